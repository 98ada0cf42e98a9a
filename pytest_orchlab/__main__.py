"""``python -m pytest_orchlab`` is the ``orchlab`` command."""

import sys

from pytest_orchlab.cli import main

sys.exit(main())
