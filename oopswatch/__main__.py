import sys

from oopswatch.cli import main

sys.exit(main())
