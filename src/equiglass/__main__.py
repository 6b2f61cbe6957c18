"""``python -m equiglass``: the command line (see :mod:`equiglass.cli`)."""

import sys

from .cli import main

sys.exit(main())
