"""`minifrcnn info`: versions, backends, GPU and thread settings."""

import json


def add_commands(commands):
    p = commands.add_parser(
        "info",
        help="versions, backends, GPU and thread settings",
        description="Print the versions of minifrcnn's dependencies, which backends (numpy, numba, "
        "cuda) can run here and which is the default, whether a GPU is visible, and the thread "
        "settings of Numba and the BLAS library.",
    )
    p.add_argument("--json", action="store_true", help="print the same as JSON")
    p.set_defaults(run=run_info)


def run_info(args):
    from ..backend import system_info

    info = system_info()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for section, values in info.items():
        print(f"{section}:")
        width = max(len(key) for key in values)
        for key, value in values.items():
            print(f"  {key:<{width}}  {value}")
    return 0
