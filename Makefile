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

bench: build
	$(NODE) dist/bench/run.js
	$(NODE) dist/bench/etcd.js

clean:
	rm -rf dist .build
