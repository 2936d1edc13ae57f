import sys

from lrfr.cli import main

sys.exit(main())
