"""``python -m pmemobj info|check|gc|dump FILE``: see pmemobj.cli."""
import sys

from .cli import main

sys.exit(main())
