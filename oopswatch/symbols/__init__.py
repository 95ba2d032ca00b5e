"""Kernel symbols: System.map, vmlinux and module symbol tables; address ▶ symbol+off/size;
file:line through addr2line; KASLR offsets; checking a map against the running kernel."""
