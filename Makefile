# make run   -- create .venv if missing, install, start the interactive shell
# make test  -- create .venv if missing, install with test extras (and OpenSSH
#               server for the SSH tests), run the whole test suite
# make bench -- print speed figures (not part of make test)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test bench install sshd clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Reinstall when the project's metadata changes.  Editable, so the working tree
# is what runs; byte-compiled because an editable install is not (and
# PYTHONDONTWRITEBYTECODE may be set), which would add ~20 ms to every start.
$(STAMP): pyproject.toml | $(BIN)/python
	PYTHONWARNINGS=ignore $(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)
	@$(BIN)/python -m compileall -q tetra_repl plugins grammar

run: install
	$(BIN)/tetra

# The SSH integration tests start their own sshd on 127.0.0.1; they need the binary.
sshd:
	@if ! command -v sshd >/dev/null 2>&1 && [ ! -x /usr/sbin/sshd ]; then \
	  echo "installing openssh-server for the SSH tests"; \
	  SUDO=; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq openssh-server openssh-client >/dev/null; \
	fi

test: install sshd
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: install sshd
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info
