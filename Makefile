# chatrelay build and test entry points. `make test` is what CI runs.

GO          ?= go
NPM         ?= npm
GOTESTFLAGS ?= -race -count=1 -timeout 20m

# npm writes this file on every install; it is newer than the lockfile
# exactly when node_modules matches it.
JS_DEPS := test/js/node_modules/.package-lock.json

.PHONY: test test-short vet js-deps run

## test: install the JS test clients if needed, then vet and test everything.
test: js-deps vet
	$(GO) test $(GOTESTFLAGS) ./...

## test-short: the inner loop: every test that needs RabbitMQ, nginx,
## Chromium or Node skips (-short), no -race; CI runs `make test`.
test-short:
	$(GO) test -short -count=1 ./...

vet:
	$(GO) vet ./...

js-deps: $(JS_DEPS)

$(JS_DEPS): test/js/package.json test/js/package-lock.json
	$(NPM) ci --prefix test/js --no-audit --no-fund
	@touch $@

## run: start a server with the default configuration.
run:
	$(GO) run ./cmd/chatrelay

## web-vendor: copy the browser bundles of the pinned @stomp/stompjs,
## sockjs-client and swagger-ui-dist (test/js/package.json) and their
## licenses into the web chat's embedded files; internal/web's tests fail
## when they drift.
WEB_VENDOR := internal/web/static/vendor
JS_MODULES := test/js/node_modules

.PHONY: web-vendor
web-vendor: js-deps
	cp $(JS_MODULES)/@stomp/stompjs/bundles/stomp.umd.min.js $(WEB_VENDOR)/stomp.umd.min.js
	cp $(JS_MODULES)/@stomp/stompjs/LICENSE $(WEB_VENDOR)/stompjs-LICENSE.txt
	cp $(JS_MODULES)/sockjs-client/dist/sockjs.min.js $(WEB_VENDOR)/sockjs.min.js
	cp $(JS_MODULES)/sockjs-client/LICENSE $(WEB_VENDOR)/sockjs-client-LICENSE.txt
	mkdir -p $(WEB_VENDOR)/swagger-ui
	cp $(JS_MODULES)/swagger-ui-dist/swagger-ui-bundle.js $(WEB_VENDOR)/swagger-ui/swagger-ui-bundle.js
	cp $(JS_MODULES)/swagger-ui-dist/swagger-ui-bundle.js.LICENSE.txt $(WEB_VENDOR)/swagger-ui/swagger-ui-bundle.js.LICENSE.txt
	cp $(JS_MODULES)/swagger-ui-dist/swagger-ui.css $(WEB_VENDOR)/swagger-ui/swagger-ui.css
	cp $(JS_MODULES)/swagger-ui-dist/LICENSE $(WEB_VENDOR)/swagger-ui/swagger-ui-LICENSE.txt
	cp $(JS_MODULES)/swagger-ui-dist/NOTICE $(WEB_VENDOR)/swagger-ui/swagger-ui-NOTICE.txt
