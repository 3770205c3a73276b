"""`python -m kgenhance.cli`."""

import sys

from . import main

sys.exit(main())
