"""A corpus of public model definitions, re-written for the tests, checked against brute force.

Each module names its source (repository, path, commit where the look-up tool showed one; all Apache-2.0) and
lists how it departs from the source. The definitions are written for this package, not copied: the workplace
keeps public repositories' code out of commits, so each module re-states the source architecture with the same
module names, parameter tree, operations and call order (what ``layer_ntk`` sees), at tiny sizes.
"""
