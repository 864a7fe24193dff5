// Rollcall's GraphiQL: queries and mutations over HTTP POST, subscriptions
// over a websocket (graphql-transport-ws), both with the Authorization
// header typed in the Headers tab. Served by the binary, loading nothing
// from elsewhere (see the Content-Security-Policy).
(function () {
  'use strict';
  var endpoint = new URL('/graphql', window.location.href);
  var wsURL = (endpoint.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + endpoint.host + endpoint.pathname;

  function authorization(headers) {
    if (!headers) return '';
    for (var k in headers) {
      if (k.toLowerCase() === 'authorization') return String(headers[k]);
    }
    return '';
  }

  function isSubscription(params, opts) {
    var doc = opts && opts.documentAST;
    if (!doc) return /^\s*subscription\b/.test(params.query || '');
    var name = params.operationName;
    return doc.definitions.some(function (d) {
      return d.kind === 'OperationDefinition' && d.operation === 'subscription' &&
        (!name || (d.name && d.name.value === name));
    });
  }

  // One websocket per Authorization value: a new token opens a new one.
  var clients = {};
  function wsClient(auth) {
    if (!clients[auth]) {
      clients[auth] = graphqlWs.createClient({
        url: wsURL,
        lazy: true,
        connectionParams: auth ? { authorization: auth } : {},
      });
    }
    return clients[auth];
  }

  function fetcher(params, opts) {
    var headers = (opts && opts.headers) || {};
    if (isSubscription(params, opts)) {
      return wsClient(authorization(headers)).iterate({
        query: params.query, variables: params.variables, operationName: params.operationName,
      });
    }
    var h = { 'Content-Type': 'application/json', 'Accept': 'application/json' };
    for (var k in headers) h[k] = headers[k];
    return fetch(endpoint, { method: 'POST', headers: h, body: JSON.stringify(params), credentials: 'omit' })
      .then(function (res) { return res.json(); });
  }

  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(React.createElement(GraphiQL, {
    fetcher: fetcher,
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: true,
    defaultHeaders: '{"Authorization": "Bearer PASTE-THE-TOKEN"}',
  }));
})();
