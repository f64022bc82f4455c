# The two commands a new user needs: `make dev` serves the token endpoint locally,
# `make test` runs every test. Both install their tools first (scripts/tools.sh).

.PHONY: dev test

dev:
	scripts/dev.sh

test:
	scripts/test.sh
