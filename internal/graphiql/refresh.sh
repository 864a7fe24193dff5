#!/bin/sh
# Refreshes GraphiQL's built assets from the npm registry. Change the
# versions here and in assets/VERSIONS together, run this from the
# repository root, then check the page (go test ./internal/graphiql).
set -eu
GRAPHIQL=3.8.3 REACT=18.3.1 GRAPHQL_WS=5.16.0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm init -y >/dev/null && npm install --no-audit --no-fund \
  "graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT" "graphql-ws@$GRAPHQL_WS" "graphql@16")
n=$tmp/node_modules
out=internal/graphiql/assets
cp "$n/graphiql/graphiql.min.js" "$n/graphiql/graphiql.min.css" "$n/react/umd/react.production.min.js" \
  "$n/react-dom/umd/react-dom.production.min.js" "$n/graphql-ws/umd/graphql-ws.min.js" "$out/"
cp "$n/graphiql/LICENSE" "$out/licenses/graphiql.LICENSE"
cp "$n/react/LICENSE" "$out/licenses/react.LICENSE"
cp "$n/react-dom/LICENSE" "$out/licenses/react-dom.LICENSE"
cp "$n/graphql-ws/LICENSE.md" "$out/licenses/graphql-ws.LICENSE"
