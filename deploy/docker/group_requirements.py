"""Print the requirements of the named optional-dependency groups of pyproject.toml, one a line.

The images install exactly their service's group (`python group_requirements.py gateway`), so a
dependency added to pyproject.toml reaches the image without a second list to keep in step.
"""

import sys
import tomllib

with open(sys.argv[1], "rb") as file:
    groups = tomllib.load(file)["project"]["optional-dependencies"]
for name in sys.argv[2:]:
    print("\n".join(groups[name]))
