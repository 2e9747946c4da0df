"""`python -m shapelang`: the same as the `shapelang` command."""
import sys

from .cli import main

sys.exit(main())
