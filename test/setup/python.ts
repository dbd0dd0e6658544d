// The Python tools' interpreter (infra/setup.sh --full makes .venv), for tests that check against them.
export const PYTHON = ".venv/bin/python";
