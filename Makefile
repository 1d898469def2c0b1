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

# Incremental: tsc runs only when a source, a source folder (a file added or
# deleted) or the configuration is newer than the last build, and the
# compiled files of deleted sources are removed first, so none lingers.
# (Folders are named with a trailing /. so that test/ is not the phony target test.)
SOURCES := $(shell find src workers test bench -name '*.ts') $(addsuffix /.,$(shell find src workers test bench -type d))

build: dist/.tsbuildinfo

dist/.tsbuildinfo: node_modules/.package-lock.json tsconfig.json scripts/prune-dist.mjs $(SOURCES)
	$(NODE) scripts/prune-dist.mjs
	npx tsc -p tsconfig.json
	@touch $@

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
	$(NODE) dist/bench/bounded.js 256
	$(NODE) dist/bench/etcd.js

clean:
	rm -rf dist .build
