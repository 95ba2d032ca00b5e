/*
 * oopswatch test initramfs /init: one small static program for every
 * architecture (Debian 12 has no busybox for riscv64 or 32-bit mips).
 *
 * Kernel command line knobs:
 *   oopswatch.crash=TYPE    LKDTM crash type written to
 *                           /sys/kernel/debug/provoke-crash/DIRECT, or
 *                           MODULE_EXCEPTION / MODULE_WARNING / MODULE_BUG to
 *                           crash inside the oopswatch_crash.ko test module.
 *   oopswatch.wait=SECONDS  HUNG_TASK/SOFTLOCKUP: max. time to wait for the
 *                           report (default 30; the wait ends 2 s after its
 *                           header appears in the kernel log).
 *   oopswatch.shell=1       after the crash (if any) start an interactive
 *                           shell (/bin/sh, busybox) on the console, as its
 *                           own session with the console as controlling tty;
 *                           prompt "oopswatch-shell# ".  Reset when it exits.
 *
 * Every line this program prints starts with "oopswatch-init: ".  QEMU runs
 * with -no-reboot, so the final reset ends QEMU; the kernels panic with
 * panic=-1 (reset at once), so a panic ends QEMU too.
 *
 * Waits check the monotonic clock rather than trust one sleep call: a
 * sleep(30) was seen to return at once on the 32-bit arm kernel.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DIRECT "/sys/kernel/debug/provoke-crash/DIRECT"
#define MODULE_PATH "/lib/modules/oopswatch_crash.ko"
#define MODULE_PARAM "/sys/module/oopswatch_crash/parameters/crash"
#define SHELL "/bin/sh"
#define PROMPT "oopswatch-shell# "

static void say(const char *fmt, ...)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "oopswatch-init: ");
	va_list ap;

	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(STDOUT_FILENO, buf, n) < 0) {
		/* nowhere else to say it */
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Sleep until `seconds` have passed by the clock, however often nanosleep returns early. */
static void pause_for(double seconds)
{
	double end = now() + seconds;
	double left;

	while ((left = end - now()) > 0) {
		struct timespec ts = { (time_t)left, (long)((left - (time_t)left) * 1e9) };

		if (ts.tv_sec > 0) {
			ts.tv_sec = 0;
			ts.tv_nsec = 200000000; /* wake often: check the clock */
		}
		nanosleep(&ts, NULL);
	}
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	n = n < 0 ? -errno : 0;
	close(fd);
	return (int)n;
}

static void finish(void)
{
	/* Let the console drain, then reset (QEMU -no-reboot turns it into an exit). */
	pause_for(1);
	sync();
	say("rebooting");
	reboot(RB_AUTOBOOT);
	pause_for(5);
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}

/* The kernel command line's value of `key=`, copied into `out`; 0 when absent. */
static int cmdline_value(const char *cmdline, const char *key, char *out, size_t size)
{
	size_t keylen = strlen(key);
	const char *p = cmdline;

	while (*p) {
		const char *end;

		while (*p == ' ' || *p == '\n')
			p++;
		end = p;
		while (*end && *end != ' ' && *end != '\n')
			end++;
		if ((size_t)(end - p) > keylen && strncmp(p, key, keylen) == 0 && p[keylen] == '=') {
			size_t len = end - p - keylen - 1;

			if (len >= size)
				len = size - 1;
			memcpy(out, p + keylen + 1, len);
			out[len] = '\0';
			return 1;
		}
		p = end;
	}
	return 0;
}

/* Write `text` to `path` from a child process: an oops kills the child, not PID 1. */
static pid_t spawn_writer(const char *path, const char *text)
{
	pid_t pid = fork();

	if (pid == 0) {
		int err = write_file(path, text);

		_exit(err ? 1 : 0);
	}
	return pid;
}

static int exit_status(int status)
{
	/* as a shell reports it: 128 + signal for a killed writer */
	return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

static int load_module(void)
{
	int fd = open(MODULE_PATH, O_RDONLY | O_CLOEXEC);
	long rc;

	if (fd < 0) {
		say("ERROR: cannot open %s: %s", MODULE_PATH, strerror(errno));
		return -1;
	}
	rc = syscall(SYS_finit_module, fd, "", 0);
	close(fd);
	if (rc != 0) {
		say("ERROR: loading %s failed: %s", MODULE_PATH, strerror(errno));
		return -1;
	}
	return 0;
}

static int kernel_log_has(const char *const needles[])
{
	static char buf[1 << 17];
	int n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, sizeof(buf) - 1);

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	for (; *needles; needles++)
		if (strstr(buf, *needles))
			return 1;
	return 0;
}

static void provoke(const char *crash, double wait_s)
{
	const int background = !strcmp(crash, "HUNG_TASK") || !strcmp(crash, "SOFTLOCKUP");
	pid_t writer;
	int status;

	if (!strcmp(crash, "HUNG_TASK")) {
		write_file("/proc/sys/kernel/hung_task_timeout_secs", "2");
		write_file("/proc/sys/kernel/hung_task_check_interval_secs", "1");
	} else if (!strcmp(crash, "SOFTLOCKUP")) {
		/*
		 * Soft lockup threshold = 2 * watchdog_thresh = 2 s.  The kernels run
		 * on ONE CPU: once LKDTM spins with preemption off no user space runs
		 * again, so the detector panics the kernel after its report.
		 */
		write_file("/proc/sys/kernel/watchdog_thresh", "1");
		write_file("/proc/sys/kernel/softlockup_panic", "1");
	}

	say("provoking %s", crash);
	if (!strncmp(crash, "MODULE_", 7)) {
		if (load_module() != 0)
			return;
		writer = spawn_writer(MODULE_PARAM, crash + 7);
	} else {
		writer = spawn_writer(DIRECT, crash);
	}
	if (writer < 0) {
		say("ERROR: fork: %s", strerror(errno));
		return;
	}
	if (background) {
		/* The write blocks (HUNG_TASK) or spins (SOFTLOCKUP): wait for the report. */
		static const char *const headers[] = { "blocked for more than", "soft lockup", NULL };
		double end = now() + wait_s;

		while (now() < end) {
			pause_for(0.5);
			if (kernel_log_has(headers)) {
				pause_for(2); /* the header is out: let the stack dump print */
				break;
			}
		}
	} else {
		while (waitpid(writer, &status, 0) < 0 && errno == EINTR)
			;
		say("writer for %s exited with status %d", crash, exit_status(status));
	}
	say("survived %s", crash);
}

/* An interactive shell as a session of its own on /dev/console (job control, Ctrl-C). */
static void run_shell(void)
{
	pid_t pid;
	int status;

	if (access(SHELL, X_OK) != 0) {
		say("no %s in this initramfs (Debian 12 has no busybox-static for this architecture)", SHELL);
		return;
	}
	pid = fork();
	if (pid == 0) {
		char *const install[] = { "/bin/busybox", "--install", "-s", "/bin", NULL };
		char *const argv[] = { "-sh", NULL };
		pid_t helper = fork();
		int fd;

		if (helper == 0) {
			execv(install[0], install);
			_exit(127);
		}
		waitpid(helper, NULL, 0);
		setsid();
		fd = open("/dev/console", O_RDWR);
		if (fd < 0 || ioctl(fd, TIOCSCTTY, 1) != 0) {
			say("ERROR: /dev/console as controlling tty: %s", strerror(errno));
			_exit(126);
		}
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
		setenv("PS1", PROMPT, 1);
		setenv("HOME", "/", 1);
		setenv("TERM", "vt100", 1);
		execv(SHELL, argv);
		_exit(127);
	}
	say("shell started on the console (prompt '%s'); exit it to reboot", PROMPT);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	say("shell exited with status %d", exit_status(status));
}

int main(void)
{
	static char cmdline[4096];
	char crash[64] = "", wait_arg[16] = "", shell_arg[8] = "";
	struct utsname uts;
	double wait_s = 30;
	int fd;
	ssize_t n;

	setenv("PATH", "/bin", 1);
	mkdir("/proc", 0755);
	mkdir("/sys", 0755);
	mkdir("/dev", 0755);
	mkdir("/tmp", 01777);
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);

	fd = open("/proc/cmdline", O_RDONLY);
	n = fd >= 0 ? read(fd, cmdline, sizeof(cmdline) - 1) : -1;
	if (fd >= 0)
		close(fd);
	cmdline[n > 0 ? n : 0] = '\0';
	cmdline_value(cmdline, "oopswatch.crash", crash, sizeof(crash));
	if (cmdline_value(cmdline, "oopswatch.wait", wait_arg, sizeof(wait_arg)) && atof(wait_arg) > 0)
		wait_s = atof(wait_arg);
	cmdline_value(cmdline, "oopswatch.shell", shell_arg, sizeof(shell_arg));

	uname(&uts);
	say("uname: %s %s %s %s %s", uts.sysname, uts.nodename, uts.release, uts.version, uts.machine);

	if (crash[0]) {
		if (access(DIRECT, W_OK) != 0)
			say("ERROR: %s missing (LKDTM not built in?)", DIRECT);
		else
			provoke(crash, wait_s);
	}
	if (!strcmp(shell_arg, "1"))
		run_shell();
	else if (!crash[0])
		say("no crash requested, powering off");
	finish();
	return 0;
}
