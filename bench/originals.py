"""Where the benches find the scripts that run the ORIGINAL implementations
(`../shared/tools/`, see its README); the originals themselves stay outside."""
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def default_tool(name):
  """../shared/tools/<name> beside the repository (or beside its worktree parent)."""
  for up in (1, 2):
    path = os.path.join(REPO, *(['..'] * up), 'shared', 'tools', name)
    if os.path.isfile(path):
      return os.path.normpath(path)
  return os.path.normpath(os.path.join(REPO, '..', 'shared', 'tools', name))
