"""train.py's command line: the flags described in flags.json, one argument group per stage, their defaults
read from the recipe (train/recipe.json, the shipped recipe; --recipe FILE overrides the values it sets)."""
import argparse
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
RECIPE = os.path.join(HERE, "recipe.json")
FLAGS = os.path.join(HERE, "flags.json")
# the flags that are not part of a recipe: where a run goes and how this start of it behaves
NOT_RECIPE = {"out": os.path.join(HERE, "runs", "small"), "recipe": None, "vae_from": None, "sim_clock": False,
              "no_finish": False}


def read_recipe(path):
    """A recipe file's values, {dest: value} (its groups are for reading only)."""
    return {k: v for group in json.load(open(path)).values() for k, v in group.items()}


def add_flag(group, dest, default, spec):
    name = "--" + dest.replace("_", "-")
    kind = spec.get("type") or type(default).__name__
    if kind == "bool":
        action = argparse.BooleanOptionalAction if default else "store_true"
        group.add_argument(name, action=action, default=default, help=spec["help"] + (" [on]" if default else ""))
    elif kind == "list":
        group.add_argument(name, type=int, nargs=len(default), default=default, metavar=("FROM", "TO"),
                           help=spec["help"] + " [%s %s]" % tuple(default))
    else:
        kinds = {"float": (float, "X"), "int": (int, "N"), "str": (str, "PATH")}
        shown = "" if default is None or kind == "str" else " [%(default)s]"
        group.add_argument(name, type=kinds[kind][0], metavar=spec.get("metavar", kinds[kind][1]), default=default,
                           help=spec["help"] + shown)


def parser(recipe_path=None):
    values = dict(NOT_RECIPE, **read_recipe(RECIPE))  # another recipe file may set only some values
    values.update(read_recipe(recipe_path) if recipe_path else {})
    ap = argparse.ArgumentParser(prog="train.py", usage="%(prog)s --out DIR [options]", formatter_class=lambda prog:
                                 argparse.HelpFormatter(prog, max_help_position=32), description=(
        "Train the sd-native tiny model from scratch: VAE stage, UNet stage, text phase, then train/finish.py "
        "(export, evaluation, model card). Time-budgeted and resumable: re-running the same command continues."))
    described = set()
    for spec in json.load(open(FLAGS)).values():
        group = ap.add_argument_group(spec["title"])
        for dest, flag in spec["flags"].items():
            add_flag(group, dest, values[dest], flag)
            described.add(dest)
    unknown = set(values) - described
    if unknown:
        raise SystemExit(f"{recipe_path or RECIPE}: no such setting: {', '.join(sorted(unknown))}")
    ap.add_argument("--rank", type=int, default=0, help=argparse.SUPPRESS)  # a data-parallel peer's rank
    return ap


def parse_args(argv=None):
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--recipe")
    known, _ = first.parse_known_args(argv)
    return parser(known.recipe).parse_args(argv)
