# Two commands matter to a new user: `make run` and `make test`.
NODE ?= node
TEST_FILES = $(shell find dist/test -name '*.test.js' 2>/dev/null | sort)

.PHONY: all install build run test test-unit bench clean lint

all: build

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

install: node_modules/.package-lock.json

build: install
	npx tsc -p tsconfig.json

run: build
	$(NODE) dist/src/main.js $(CONFIG)

test: build
	$(NODE) --test --test-concurrency=2 $$(find dist/test -name '*.test.js' | sort)

bench: build
	$(NODE) dist/bench/run.js

clean:
	rm -rf dist
