# The two commands a new user needs: `make run` and `make test`.
NODE ?= node
CONFIG ?=

.PHONY: all install build run test test-unit lint fmt bench clean

all: build

# npm ci only when the lock file changed since the last install.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

install: node_modules/.package-lock.json

# A clean build, so that no compiled test of a deleted source lingers.
build: install
	rm -rf dist
	npx tsc -p tsconfig.json

run: build
	$(NODE) dist/src/cli/main.js serve $(CONFIG)

test: build
	$(NODE) --test --test-concurrency=2 $$(find dist/test -name '*.test.js' | sort)

# Domain tests only: fast, no threads or sockets.
test-unit: build
	$(NODE) --test $$(find dist/test/domain -name '*.test.js' | sort)

# Lint (ESLint with typescript-eslint, type-aware) and formatting (Prettier) checks.
lint: install
	npx eslint .
	npx prettier --check .

# Rewrites every file in the project's format.
fmt: install
	npx prettier --write .
	npx eslint --fix .

bench: build
	$(NODE) dist/bench/run.js
	$(NODE) dist/bench/etcd.js

clean:
	rm -rf dist .build
