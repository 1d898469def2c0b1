# The two commands a new user needs: `make run` and `make test`.
NODE ?= node
CONFIG ?=

.PHONY: all install build run test test-unit bench clean

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

bench: build
	$(NODE) dist/bench/run.js

clean:
	rm -rf dist .build
