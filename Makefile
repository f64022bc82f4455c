# The two commands a new user needs: `make dev` serves the token endpoint locally,
# `make test` runs every test. Both install their tools first (scripts/tools.sh).
# `make sam-local` runs every sample event through `sam local invoke` and `start-api`
# against a local DynamoDB (as root on Debian it installs and starts what it needs).

.PHONY: dev test sam-local

dev:
	scripts/dev.sh

test:
	scripts/test.sh

sam-local:
	scripts/sam-local.sh
