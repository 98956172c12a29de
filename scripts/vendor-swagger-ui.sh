#!/usr/bin/env bash
# vendor-swagger-ui.sh VERSION: copy Swagger UI's built files from the npm
# package swagger-ui-dist at VERSION into web/static/ui/swagger-ui/, where
# they are committed and embedded in irisd (served at /docs). Nothing runs
# this at build or run time; it is how the committed files were made.
set -euo pipefail
version=${1:?usage: $0 VERSION (for example 5.35.0)}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "swagger-ui-dist@$version" >/dev/null && tar xzf "swagger-ui-dist-$version.tgz")
dst=$root/web/static/ui/swagger-ui
mkdir -p "$dst"
for f in swagger-ui-bundle.js swagger-ui.css LICENSE NOTICE; do cp "$tmp/package/$f" "$dst/$f"; done
cat >"$dst/VERSION" <<EOT
swagger-ui-dist $version (npm), files copied unchanged: swagger-ui-bundle.js, swagger-ui.css,
LICENSE (Apache-2.0), NOTICE. Update with scripts/vendor-swagger-ui.sh VERSION.
EOT
echo "web/static/ui/swagger-ui: swagger-ui-dist $version"
