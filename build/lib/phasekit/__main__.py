"""``python -m phasekit ...`` is the ``phasekit`` command (see :mod:`phasekit.experiments.cli`)."""

import sys

from phasekit.experiments.cli import main

sys.exit(main())
