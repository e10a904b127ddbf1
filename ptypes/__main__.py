"""``python -m ptypes info|check|dump FILE``: the pmemobj tools on a ptypes storage."""
import sys

from pmemobj.cli import main

sys.exit(main(prog="python -m ptypes", ptypes=True))
