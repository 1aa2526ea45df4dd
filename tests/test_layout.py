"""The package's layout rules (DESIGN.md): the library computes and returns values; only
minifrcnn/cli prints, only minifrcnn/viz.py draws (and imports matplotlib)."""

import re
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "minifrcnn"


def library_sources():
    """(path relative to the package, text) of every module outside minifrcnn/cli."""
    return [(path.relative_to(PACKAGE).as_posix(), path.read_text(encoding="utf-8"))
            for path in sorted(PACKAGE.rglob("*.py")) if "cli" not in path.relative_to(PACKAGE).parts]


def test_only_viz_imports_matplotlib():
    importing = [name for name, text in library_sources()
                 if re.search(r"^\s*(import|from)\s+matplotlib\b", text, flags=re.M)]
    assert importing == ["viz.py"]
    cli = [path.name for path in (PACKAGE / "cli").glob("*.py")
           if re.search(r"^\s*(import|from)\s+matplotlib\b", path.read_text(), flags=re.M)]
    assert cli == []


def test_the_library_neither_prints_nor_parses_arguments():
    for name, text in library_sources():
        assert not re.search(r"\bprint\(", text), f"{name} prints"
        assert "argparse" not in text, f"{name} parses arguments"
        assert not re.search(r"^def \w+_command\(", text, flags=re.M), f"{name} holds a command"


def test_importing_training_and_detecting_load_no_matplotlib():
    """`import minifrcnn`, the training module, the command line's parser and a detection
    without pictures leave matplotlib unloaded (it takes a second to import, and a server
    that only detects has no use for it)."""
    code = """
import sys
import numpy as np
import minifrcnn, minifrcnn.train, minifrcnn.detect, minifrcnn.evaluate
from minifrcnn.cli import build_parser
from minifrcnn.model import FastRCNN
build_parser()
model = FastRCNN("tiny", ["__background__", "a", "b"], rng=np.random.default_rng(0))
image = np.zeros((40, 60, 3), np.uint8)
found = minifrcnn.detect.detect(model, image, np.array([[0, 0, 19, 19], [5, 5, 30, 30]]))
print(sorted(name for name in sys.modules if name.split(".")[0] == "matplotlib"))
"""
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"


def test_pyproject_license_is_an_spdx_expression():
    """`license = { text = ... }` is deprecated (PEP 639): a plain SPDX string instead."""
    import tomllib

    project = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert project["scripts"]["minifrcnn"] == "minifrcnn.cli:main"
