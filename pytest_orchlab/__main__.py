"""``python -m pytest_orchlab`` is the ``orchlab`` command."""

import sys

from .cli import main

sys.exit(main())
