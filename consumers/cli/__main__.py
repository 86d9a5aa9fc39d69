"""``python -m consumers.cli``: the same as the ``ledger`` script."""

import sys

from consumers.cli import main

sys.exit(main())
