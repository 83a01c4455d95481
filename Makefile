# chatrelay build and test entry points. `make test` is what CI runs.

GO          ?= go
NPM         ?= npm
GOTESTFLAGS ?= -race -count=1 -timeout 20m

# npm writes this file on every install; it is newer than the lockfile
# exactly when node_modules matches it.
JS_DEPS := test/js/node_modules/.package-lock.json

.PHONY: test vet js-deps run

## test: install the JS test clients if needed, then vet and test everything.
test: js-deps vet
	$(GO) test $(GOTESTFLAGS) ./...

vet:
	$(GO) vet ./...

js-deps: $(JS_DEPS)

$(JS_DEPS): test/js/package.json test/js/package-lock.json
	$(NPM) ci --prefix test/js --no-audit --no-fund
	@touch $@

## run: start a server with the default configuration.
run:
	$(GO) run ./cmd/chatrelay
