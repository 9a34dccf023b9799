# The grading plugin gives the project's tests (and `pytest autograder/checks ...` for debugging)
# the options --device, --seed, --submission, --sandbox/--no-sandbox and the `student` fixture.
pytest_plugins = ["autograder.plugin"]
