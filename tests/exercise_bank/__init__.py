"""The mutant bank: wrong and right students' implementations of every exercise, which the
checker (minifrcnn.exercises) must fail and pass respectively (tests/test_exercise_bank.py).

Each module <exercise>.py defines EXERCISE (its name), CORRECT {label: functions} (at least two
correct alternatives, as differently written as a class would write them) and MUTANTS
{label: Mutant} (each one typical student mistake), and CAUGHT_BY {label: the checker's
property that catches the mutant}."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    functions: tuple      # the student's functions, in the exercise's order
    mistake: str          # the typical student mistake it makes
