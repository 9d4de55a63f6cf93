// tests/accuracy/foreign/apps.mjs - three public microservice demo
// applications as call graphs, written from their public architecture
// (service names, protocols, datastores) and the OpenTelemetry semantic
// conventions, independently of `flywheel simulate`:
//   - boutique: Google's Online Boutique. frontend is an HTTP server; every
//     other hop is gRPC (rpc.system=grpc, rpc.service=hipstershop.X,
//     rpc.method, rpc.grpc.status_code); cartservice keeps carts in an
//     uninstrumented Redis (redis-cart, .NET-style old attribute names);
//     currencyservice fetches rates from an external HTTP API behind a cache.
//   - sockshop: Weaveworks Sock Shop. REST over HTTP with the current
//     semantic conventions (http.request.method, http.route, url.full,
//     server.address, http.response.status_code); MongoDB/MySQL/Redis
//     datastores; shipping publishes to RabbitMQ and queue-master consumes;
//     user keeps login attempts in DynamoDB (AWS SDK shape: rpc.system=
//     aws-api, rpc.service=DynamoDB, db.system=dynamodb).
//   - trainticket: FudanSE Train Ticket. Deep Spring call chains over HTTP
//     with the OLD semantic conventions (http.method, http.status_code,
//     http.url, net.peer.name), a MongoDB per service.
//
// Service:  {name, lang, replicas, version, ops: {op: Op}}
// Op:       {self: [median_ms, sigma], err?: rate, cache?: p, calls: [Call],
//            internal?: name of an INTERNAL span wrapping the work}
// Call:     {svc, op} | {dep, op}, p?: probability, n?: [min, max] repeats,
//           par?: true (run with the other par calls of the op),
//           critical?: false when the caller tolerates the failure,
//           cacheable?: true when skipped on a cache hit
// Dep:      {name, kind: redis|mongodb|mysql|dynamodb|http|rabbitmq, lat:[ms, sigma],
//            host, ...}; dependency names accepted as the fault's component.

export const APPS = {
  boutique: {
    style: 'grpc',
    entry: 'frontend',
    rate: 7,
    routes: [
      ['GET /', 0.40], ['GET /product/{id}', 0.33], ['POST /cart', 0.10],
      ['GET /cart', 0.09], ['POST /cart/checkout', 0.06], ['POST /setCurrency', 0.02],
    ],
    deps: {
      'redis-cart': { kind: 'redis', lat: [0.6, 0.5], host: 'redis-cart', port: 6379, oldNames: true,
        names: ['redis-cart', 'redis'] },
      fxapi: { kind: 'http', lat: [45, 0.4], host: 'api.frankfurter.app', port: 443,
        path: '/latest?from=EUR', names: ['api.frankfurter.app'] },
    },
    services: {
      frontend: { lang: 'go', replicas: 3, version: 'v0.10.1', http: true, ops: {
        'GET /': { self: [3, 0.4], calls: [
          { svc: 'currencyservice', op: 'GetSupportedCurrencies' },
          { svc: 'productcatalogservice', op: 'ListProducts' },
          { svc: 'cartservice', op: 'GetCart' },
          { svc: 'currencyservice', op: 'Convert', n: [3, 9] },
          { svc: 'adservice', op: 'GetAds', critical: false },
        ] },
        'GET /product/{id}': { self: [2.5, 0.4], calls: [
          { svc: 'productcatalogservice', op: 'GetProduct' },
          { svc: 'currencyservice', op: 'GetSupportedCurrencies' },
          { svc: 'cartservice', op: 'GetCart' },
          { svc: 'currencyservice', op: 'Convert' },
          { svc: 'recommendationservice', op: 'ListRecommendations' },
          { svc: 'adservice', op: 'GetAds', critical: false },
        ] },
        'POST /cart': { self: [1.5, 0.4], calls: [
          { svc: 'productcatalogservice', op: 'GetProduct' },
          { svc: 'cartservice', op: 'AddItem' },
        ] },
        'GET /cart': { self: [2.5, 0.4], calls: [
          { svc: 'currencyservice', op: 'GetSupportedCurrencies' },
          { svc: 'cartservice', op: 'GetCart' },
          { svc: 'recommendationservice', op: 'ListRecommendations', critical: false },
          { svc: 'shippingservice', op: 'GetQuote' },
          { svc: 'currencyservice', op: 'Convert', n: [1, 3] },
        ] },
        'POST /cart/checkout': { self: [2, 0.4], calls: [
          { svc: 'checkoutservice', op: 'PlaceOrder' },
          { svc: 'recommendationservice', op: 'ListRecommendations', critical: false },
        ] },
        'POST /setCurrency': { self: [0.8, 0.3], calls: [] },
      } },
      checkoutservice: { lang: 'go', replicas: 2, version: 'v0.10.0', rpcService: 'hipstershop.CheckoutService', ops: {
        PlaceOrder: { self: [4, 0.4], calls: [
          { svc: 'cartservice', op: 'GetCart' },
          { svc: 'productcatalogservice', op: 'GetProduct', n: [1, 4] },
          { svc: 'currencyservice', op: 'Convert', n: [1, 4] },
          { svc: 'shippingservice', op: 'GetQuote' },
          { svc: 'paymentservice', op: 'Charge' },
          { svc: 'shippingservice', op: 'ShipOrder' },
          { svc: 'cartservice', op: 'EmptyCart' },
          { svc: 'emailservice', op: 'SendOrderConfirmation', critical: false },
        ] },
      } },
      cartservice: { lang: 'dotnet', replicas: 2, version: 'v0.10.0', rpcService: 'hipstershop.CartService', ops: {
        GetCart: { self: [1.2, 0.5], calls: [{ dep: 'redis-cart', op: 'HGET' }] },
        AddItem: { self: [1.5, 0.5], calls: [{ dep: 'redis-cart', op: 'HGET' }, { dep: 'redis-cart', op: 'HSET' }, { dep: 'redis-cart', op: 'EXPIRE' }] },
        EmptyCart: { self: [1, 0.5], calls: [{ dep: 'redis-cart', op: 'HSET' }, { dep: 'redis-cart', op: 'EXPIRE' }] },
      } },
      productcatalogservice: { lang: 'go', replicas: 3, version: 'v0.10.0', rpcService: 'hipstershop.ProductCatalogService', ops: {
        ListProducts: { self: [2.5, 0.35], calls: [] },
        GetProduct: { self: [1.2, 0.35], calls: [] },
      } },
      currencyservice: { lang: 'nodejs', replicas: 2, version: 'v0.10.0', rpcService: 'hipstershop.CurrencyService', ops: {
        GetSupportedCurrencies: { self: [0.9, 0.3], calls: [] },
        Convert: { self: [0.7, 0.3], cache: 0.85, calls: [{ dep: 'fxapi', op: 'GET', cacheable: true }] },
      } },
      paymentservice: { lang: 'nodejs', replicas: 2, version: 'v0.10.0', rpcService: 'hipstershop.PaymentService', ops: {
        Charge: { self: [6, 0.4], err: 0.003, calls: [] },
      } },
      shippingservice: { lang: 'go', replicas: 2, version: 'v0.10.0', rpcService: 'hipstershop.ShippingService', ops: {
        GetQuote: { self: [1.5, 0.35], calls: [] },
        ShipOrder: { self: [2.5, 0.35], calls: [] },
      } },
      emailservice: { lang: 'python', replicas: 2, version: 'v0.10.0', rpcService: 'hipstershop.EmailService', ops: {
        SendOrderConfirmation: { self: [25, 0.5], err: 0.01, calls: [] },
      } },
      recommendationservice: { lang: 'python', replicas: 3, version: 'v0.10.0', rpcService: 'hipstershop.RecommendationService', ops: {
        ListRecommendations: { self: [6, 0.45], calls: [{ svc: 'productcatalogservice', op: 'ListProducts' }] },
      } },
      adservice: { lang: 'java', replicas: 2, version: 'v0.10.0', rpcService: 'hipstershop.AdService', ops: {
        GetAds: { self: [3, 0.5], err: 0.005, calls: [] },
      } },
    },
  },

  sockshop: {
    style: 'http',
    entry: 'front-end',
    rate: 5,
    routes: [
      ['GET /catalogue', 0.30], ['GET /catalogue/:id', 0.22], ['GET /cart', 0.16], ['POST /cart', 0.10],
      ['POST /orders', 0.07], ['GET /login', 0.08], ['GET /tags', 0.07],
    ],
    deps: {
      'session-db': { kind: 'redis', lat: [0.4, 0.4], host: 'session-db', port: 6379, names: ['session-db', 'redis'] },
      'catalogue-db': { kind: 'mysql', lat: [1.8, 0.5], host: 'catalogue-db', port: 3306, db: 'socksdb',
        names: ['catalogue-db', 'mysql'] },
      'carts-db': { kind: 'mongodb', lat: [1.5, 0.5], host: 'carts-db', port: 27017, db: 'data', coll: 'cart',
        names: ['carts-db', 'mongodb'] },
      'orders-db': { kind: 'mongodb', lat: [2.5, 0.5], host: 'orders-db', port: 27017, db: 'data', coll: 'customerOrder',
        names: ['orders-db', 'mongodb'] },
      'user-db': { kind: 'mongodb', lat: [1.3, 0.5], host: 'user-db', port: 27017, db: 'users', coll: 'customers',
        names: ['user-db', 'mongodb'] },
      dynamodb: { kind: 'dynamodb', lat: [6, 0.4], host: 'dynamodb.eu-west-1.amazonaws.com', port: 443, table: 'login-attempts',
        names: ['dynamodb', 'dynamodb.eu-west-1.amazonaws.com'] },
      rabbitmq: { kind: 'rabbitmq', lat: [0.8, 0.4], host: 'rabbitmq', port: 5672, queue: 'shipping-task',
        names: ['rabbitmq', 'shipping-task'] },
    },
    services: {
      'front-end': { lang: 'nodejs', replicas: 2, version: '0.3.12', http: true, ops: {
        'GET /catalogue': { self: [3, 0.4], calls: [{ dep: 'session-db', op: 'GET' }, { svc: 'catalogue', op: 'GET /catalogue' }] },
        'GET /catalogue/:id': { self: [2, 0.4], calls: [{ dep: 'session-db', op: 'GET' }, { svc: 'catalogue', op: 'GET /catalogue/{id}' }] },
        'GET /tags': { self: [1.5, 0.4], calls: [{ svc: 'catalogue', op: 'GET /tags' }] },
        'GET /cart': { self: [2, 0.4], calls: [{ dep: 'session-db', op: 'GET' }, { svc: 'carts', op: 'GET /carts/{customerId}/items' }] },
        'POST /cart': { self: [2, 0.4], calls: [{ dep: 'session-db', op: 'GET' }, { svc: 'catalogue', op: 'GET /catalogue/{id}' }, { svc: 'carts', op: 'POST /carts/{customerId}/items' }] },
        'POST /orders': { self: [3, 0.4], calls: [{ dep: 'session-db', op: 'GET' }, { svc: 'orders', op: 'POST /orders' }] },
        'GET /login': { self: [2, 0.4], calls: [{ dep: 'session-db', op: 'SET' }, { svc: 'user', op: 'GET /login' }] },
      } },
      catalogue: { lang: 'go', replicas: 2, version: '0.3.5', ops: {
        'GET /catalogue': { self: [2, 0.4], calls: [{ dep: 'catalogue-db', op: 'SELECT' }] },
        'GET /catalogue/{id}': { self: [1, 0.4], calls: [{ dep: 'catalogue-db', op: 'SELECT' }] },
        'GET /tags': { self: [0.8, 0.4], cache: 0.6, calls: [{ dep: 'catalogue-db', op: 'SELECT', cacheable: true }] },
      } },
      carts: { lang: 'java', replicas: 2, version: '0.4.8', ops: {
        'GET /carts/{customerId}/items': { self: [6, 0.45], internal: 'ItemsController.getItems', calls: [{ dep: 'carts-db', op: 'find' }] },
        'POST /carts/{customerId}/items': { self: [8, 0.45], internal: 'ItemsController.addToCart', calls: [{ dep: 'carts-db', op: 'find' }, { dep: 'carts-db', op: 'update' }] },
        'DELETE /carts/{customerId}': { self: [5, 0.45], calls: [{ dep: 'carts-db', op: 'delete' }] },
      } },
      orders: { lang: 'java', replicas: 2, version: '0.4.7', ops: {
        'POST /orders': { self: [12, 0.4], internal: 'OrdersController.newOrder', calls: [
          { svc: 'user', op: 'GET /customers/{id}', par: true },
          { svc: 'user', op: 'GET /addresses/{id}', par: true },
          { svc: 'user', op: 'GET /cards/{id}', par: true },
          { svc: 'carts', op: 'GET /carts/{customerId}/items' },
          { svc: 'payment', op: 'POST /paymentAuth' },
          { svc: 'shipping', op: 'POST /shipping' },
          { dep: 'orders-db', op: 'insert' },
          { svc: 'carts', op: 'DELETE /carts/{customerId}', critical: false },
        ] },
      } },
      user: { lang: 'go', replicas: 2, version: '0.4.4', ops: {
        'GET /login': { self: [3, 0.4], calls: [{ dep: 'user-db', op: 'find' }, { dep: 'dynamodb', op: 'PutItem' }] },
        'GET /customers/{id}': { self: [1, 0.4], calls: [{ dep: 'user-db', op: 'find' }] },
        'GET /addresses/{id}': { self: [1, 0.4], calls: [{ dep: 'user-db', op: 'find' }] },
        'GET /cards/{id}': { self: [1, 0.4], calls: [{ dep: 'user-db', op: 'find' }] },
      } },
      payment: { lang: 'go', replicas: 2, version: '0.4.3', ops: {
        'POST /paymentAuth': { self: [2, 0.4], err: 0.004, calls: [] },
      } },
      shipping: { lang: 'java', replicas: 2, version: '0.4.8', ops: {
        'POST /shipping': { self: [4, 0.4], calls: [{ dep: 'rabbitmq', op: 'publish' }] },
      } },
      'queue-master': { lang: 'java', replicas: 1, version: '0.3.1', ops: {
        'shipping-task process': { self: [15, 0.4], calls: [] },
      } },
    },
  },

  trainticket: {
    style: 'http-old',
    entry: 'ts-ui-dashboard',
    rate: 4,
    routes: [
      ['POST /api/v1/travelservice/trips/left', 0.45], ['GET /api/v1/orderservice/order/refresh', 0.2],
      ['POST /api/v1/preserveservice/preserve', 0.1], ['POST /api/v1/users/login', 0.1],
      ['GET /api/v1/stationservice/stations', 0.15],
    ],
    deps: {},
    services: {
      'ts-ui-dashboard': { lang: 'cpp', replicas: 2, version: '1.0.0', http: true, ops: {
        'POST /api/v1/travelservice/trips/left': { self: [0.5, 0.3], calls: [{ svc: 'ts-travel-service', op: 'POST /api/v1/travelservice/trips/left' }] },
        'GET /api/v1/orderservice/order/refresh': { self: [0.5, 0.3], calls: [{ svc: 'ts-order-service', op: 'POST /api/v1/orderservice/order/refresh' }] },
        'POST /api/v1/preserveservice/preserve': { self: [0.5, 0.3], calls: [{ svc: 'ts-preserve-service', op: 'POST /api/v1/preserveservice/preserve' }] },
        'POST /api/v1/users/login': { self: [0.5, 0.3], calls: [{ svc: 'ts-auth-service', op: 'POST /api/v1/users/login' }] },
        'GET /api/v1/stationservice/stations': { self: [0.5, 0.3], calls: [{ svc: 'ts-station-service', op: 'GET /api/v1/stationservice/stations' }] },
      } },
      'ts-travel-service': { lang: 'java', replicas: 2, version: '1.0.0', mongo: true, ops: {
        'POST /api/v1/travelservice/trips/left': { self: [8, 0.4], calls: [
          { mongo: 'find' },
          { svc: 'ts-ticketinfo-service', op: 'POST /api/v1/ticketinfoservice/ticketinfo', n: [2, 4] },
          { svc: 'ts-seat-service', op: 'POST /api/v1/seatservice/seats/left_tickets', n: [1, 2] },
        ] },
        'GET /api/v1/travelservice/routes/{tripId}': { self: [3, 0.4], calls: [{ mongo: 'find' }, { svc: 'ts-route-service', op: 'GET /api/v1/routeservice/routes/{routeId}' }] },
      } },
      'ts-ticketinfo-service': { lang: 'java', replicas: 2, version: '1.0.0', ops: {
        'POST /api/v1/ticketinfoservice/ticketinfo': { self: [2, 0.4], calls: [{ svc: 'ts-basic-service', op: 'POST /api/v1/basicservice/basic/travel' }] },
      } },
      'ts-basic-service': { lang: 'java', replicas: 3, version: '1.0.0', ops: {
        'POST /api/v1/basicservice/basic/travel': { self: [3, 0.4], calls: [
          { svc: 'ts-station-service', op: 'GET /api/v1/stationservice/stations/id/{stationNameForId}', n: [2, 2] },
          { svc: 'ts-train-service', op: 'GET /api/v1/trainservice/trains/{id}' },
          { svc: 'ts-route-service', op: 'GET /api/v1/routeservice/routes/{routeId}' },
          { svc: 'ts-price-service', op: 'GET /api/v1/priceservice/prices/{routeId}/{trainType}' },
        ] },
      } },
      'ts-station-service': { lang: 'java', replicas: 2, version: '1.0.0', mongo: true, ops: {
        'GET /api/v1/stationservice/stations/id/{stationNameForId}': { self: [1.5, 0.4], calls: [{ mongo: 'find' }] },
        'GET /api/v1/stationservice/stations': { self: [3, 0.4], calls: [{ mongo: 'find' }] },
        'POST /api/v1/stationservice/stations/namelist': { self: [2, 0.4], calls: [{ mongo: 'find' }] },
      } },
      'ts-train-service': { lang: 'java', replicas: 2, version: '1.0.0', mongo: true, ops: {
        'GET /api/v1/trainservice/trains/{id}': { self: [1.5, 0.4], calls: [{ mongo: 'find' }] },
      } },
      'ts-route-service': { lang: 'java', replicas: 2, version: '1.0.0', mongo: true, ops: {
        'GET /api/v1/routeservice/routes/{routeId}': { self: [1.8, 0.4], calls: [{ mongo: 'find' }] },
      } },
      'ts-price-service': { lang: 'java', replicas: 2, version: '1.0.0', mongo: true, ops: {
        'GET /api/v1/priceservice/prices/{routeId}/{trainType}': { self: [1.5, 0.4], calls: [{ mongo: 'find' }] },
      } },
      'ts-seat-service': { lang: 'java', replicas: 2, version: '1.0.0', ops: {
        'POST /api/v1/seatservice/seats/left_tickets': { self: [3, 0.4], calls: [
          { svc: 'ts-order-service', op: 'POST /api/v1/orderservice/order/tickets' },
          { svc: 'ts-config-service', op: 'GET /api/v1/configservice/configs/{configName}' },
        ] },
      } },
      'ts-order-service': { lang: 'java', replicas: 2, version: '1.0.0', mongo: true, ops: {
        'POST /api/v1/orderservice/order/tickets': { self: [4, 0.4], calls: [{ mongo: 'find' }] },
        'POST /api/v1/orderservice/order/refresh': { self: [6, 0.4], calls: [{ mongo: 'find' }, { svc: 'ts-station-service', op: 'POST /api/v1/stationservice/stations/namelist' }] },
        'POST /api/v1/orderservice/order': { self: [5, 0.4], calls: [{ mongo: 'insert' }] },
      } },
      'ts-config-service': { lang: 'java', replicas: 2, version: '1.0.0', mongo: true, ops: {
        'GET /api/v1/configservice/configs/{configName}': { self: [1, 0.4], cache: 0.5, calls: [{ mongo: 'find', cacheable: true }] },
      } },
      'ts-preserve-service': { lang: 'java', replicas: 2, version: '1.0.0', ops: {
        'POST /api/v1/preserveservice/preserve': { self: [10, 0.4], calls: [
          { svc: 'ts-security-service', op: 'GET /api/v1/securityservice/securityConfigs/{accountId}' },
          { svc: 'ts-contacts-service', op: 'GET /api/v1/contactservice/contacts/{id}' },
          { svc: 'ts-travel-service', op: 'GET /api/v1/travelservice/routes/{tripId}' },
          { svc: 'ts-seat-service', op: 'POST /api/v1/seatservice/seats/left_tickets' },
          { svc: 'ts-order-service', op: 'POST /api/v1/orderservice/order' },
          { svc: 'ts-assurance-service', op: 'GET /api/v1/assuranceservice/assurances/types', critical: false },
          { svc: 'ts-food-service', op: 'POST /api/v1/foodservice/orders', critical: false },
        ] },
      } },
      'ts-security-service': { lang: 'java', replicas: 1, version: '1.0.0', mongo: true, ops: {
        'GET /api/v1/securityservice/securityConfigs/{accountId}': { self: [2, 0.4], calls: [{ mongo: 'find' }] },
      } },
      'ts-contacts-service': { lang: 'java', replicas: 1, version: '1.0.0', mongo: true, ops: {
        'GET /api/v1/contactservice/contacts/{id}': { self: [1.5, 0.4], calls: [{ mongo: 'find' }] },
      } },
      'ts-assurance-service': { lang: 'java', replicas: 1, version: '1.0.0', mongo: true, ops: {
        'GET /api/v1/assuranceservice/assurances/types': { self: [1, 0.4], calls: [] },
      } },
      'ts-food-service': { lang: 'java', replicas: 1, version: '1.0.0', mongo: true, ops: {
        'POST /api/v1/foodservice/orders': { self: [3, 0.4], err: 0.01, calls: [{ mongo: 'insert' }] },
      } },
      'ts-auth-service': { lang: 'java', replicas: 2, version: '1.0.0', mongo: true, ops: {
        'POST /api/v1/users/login': { self: [25, 0.35], calls: [{ svc: 'ts-verification-code-service', op: 'GET /api/v1/verifycode/verify/{verifyCode}' }, { mongo: 'find' }] },
      } },
      'ts-verification-code-service': { lang: 'java', replicas: 1, version: '1.0.0', ops: {
        'GET /api/v1/verifycode/verify/{verifyCode}': { self: [1, 0.4], calls: [] },
      } },
    },
  },
};

// Train Ticket gives every service with a `mongo: true` flag its own
// MongoDB (ts-station-mongo, ...): expand {mongo: op} calls into deps.
for (const [name, s] of Object.entries(APPS.trainticket.services)) {
  if (!s.mongo) continue;
  const host = name.replace(/-service$/, '-mongo');
  APPS.trainticket.deps[host] = { kind: 'mongodb', lat: [1.2, 0.5], host, port: 27017, db: 'ts',
    coll: name.replace(/^ts-|-service$/g, ''), names: [host, 'mongodb'] };
  for (const op of Object.values(s.ops)) {
    for (const c of op.calls) if (c.mongo) { c.dep = host; c.op = c.mongo; }
  }
}
