// ForwardAuth: the HTTP forward-auth listener (config forward_auth), for
// gateways that ask over plain HTTP instead of gRPC: nginx auth_request,
// Caddy forward_auth, Traefik forwardAuth, Envoy's HTTP ext_authz
// (http_service with path_prefix) and oauth2-proxy-style /auth callers.
//
// A request is adapted (FromForwardAuthRequest) into the HttpRequestInfo the
// gRPC APIs build, decided by the same Authenticator, counted and shed by
// the same RequestGate (api="forward_auth"), and its Decision is written back
// as HTTP (ToForwardAuthResponse): 200 with the upstream identity headers as
// response headers (nginx auth_request_set, Caddy copy_headers, Traefik
// authResponseHeaders), or the denial's status with WWW-Authenticate,
// DPoP-Nonce, Retry-After and X-Popguard-Reason.
//
// Two shapes of the original request are read:
//   - header form, on /auth (and /oauth2/auth): the method in
//     X-Original-Method or X-Forwarded-Method, the request target in
//     X-Original-URI or X-Forwarded-Uri, the scheme and host in
//     X-Forwarded-Proto and X-Forwarded-Host;
//   - Envoy's path-prefix form, under forward_auth.envoy_path_prefix: the
//     request's own method, its path minus the prefix, its Host header, and
//     the scheme in X-Forwarded-Proto.
// Each of these must arrive exactly once (one header line; proto and host
// also no list), else the request is denied forwarded_header_invalid. They
// are believed only from peers in forward_auth.trusted_sources.
#ifndef POPGUARD_SERVICE_FORWARD_AUTH_H_
#define POPGUARD_SERVICE_FORWARD_AUTH_H_

#include <atomic>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "service/authn/decision.h"
#include "service/authn/request.h"
#include "service/common/ip_cidr.h"
#include "service/config/config.h"
#include "service/ops/http_endpoint.h"
#include "service/server/request_gate.h"
#include "service/server/server.h"

namespace popguard {

// ForwardAuthAdapter turns forward-auth requests into HttpRequestInfo for one
// forward_auth config (its trusted sources parsed once).
class ForwardAuthAdapter {
 public:
  static absl::StatusOr<ForwardAuthAdapter> Create(const ForwardAuthConfig& config);

  // FromRequest rebuilds the original request `request` describes, or
  // returns nullopt when its path is none of the forward-auth endpoints (the
  // caller answers 404). A description that cannot be believed or read comes
  // back with rebuild_failure set, for the Authenticator to deny.
  std::optional<HttpRequestInfo> FromRequest(const HttpRequestView& request) const;

 private:
  ForwardAuthAdapter() = default;
  bool Trusted(const std::string& ip) const;

  ForwardAuthConfig config_;
  std::vector<IpCidr> trusted_;
};

// ToForwardAuthResponse writes `d` as a forward-auth answer.
HttpResponse ToForwardAuthResponse(const Decision& d);

// ForwardAuthServer serves the listener; Authenticators come from `holder`
// (which must outlive it), so a config reload applies here too.
class ForwardAuthServer {
 public:
  static absl::StatusOr<std::unique_ptr<ForwardAuthServer>> Start(const Config& config,
                                                                  AuthenticatorHolder* holder);
  // The destructor stops the listener and waits for requests being served.
  ~ForwardAuthServer();

  int port() const { return endpoint_->port(); }
  // StartClosing makes every later request a 503 `overloaded` (retryable)
  // while the listener still accepts: the shutdown's first step.
  void StartClosing() { closing_.store(true); }

 private:
  ForwardAuthServer(ForwardAuthAdapter adapter, AuthenticatorHolder* holder, size_t max_inflight)
      : adapter_(std::move(adapter)), holder_(holder), gate_(max_inflight) {}
  HttpResponse Handle(const HttpRequestView& request);

  const ForwardAuthAdapter adapter_;
  AuthenticatorHolder* const holder_;
  RequestGate gate_;
  std::atomic<bool> closing_{false};
  std::unique_ptr<HttpEndpoint> endpoint_;
};

}  // namespace popguard

#endif  // POPGUARD_SERVICE_FORWARD_AUTH_H_
