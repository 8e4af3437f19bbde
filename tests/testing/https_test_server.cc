#include "tests/testing/https_test_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "service/common/openssl_util.h"

namespace popguard::testserver {
namespace {

// Requests here are a request line and a few headers.
constexpr size_t kMaxRequestHead = 16 << 10;

absl::Status OpenSslError(std::string_view what) {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  char buf[256] = {0};
  if (e != 0) ERR_error_string_n(e, buf, sizeof(buf));
  return absl::InternalError(absl::StrCat(std::string(what), ": ", buf));
}

absl::Status AddExtension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
  if (ext == nullptr || X509_add_ext(cert, ext.get(), -1) != 1) {
    return OpenSslError(absl::StrCat("certificate extension ", value));
  }
  return absl::OkStatus();
}

// MakeCertificate issues a certificate for `key` named `cn`, signed by
// `issuer_key` (self-signed when issuer is null). A CA certificate may sign
// certificates; a leaf one is for TLS servers at 127.0.0.1 / localhost.
absl::StatusOr<X509Ptr> MakeCertificate(const char* cn, EVP_PKEY* key, X509* issuer,
                                        EVP_PKEY* issuer_key, bool ca, long serial) {
  X509Ptr cert(X509_new());
  if (cert == nullptr) return OpenSslError("X509_new");
  X509* x = cert.get();
  if (X509_set_version(x, 2) != 1 || ASN1_INTEGER_set(X509_get_serialNumber(x), serial) != 1 ||
      X509_gmtime_adj(X509_getm_notBefore(x), -3600) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(x), 2 * 86400) == nullptr ||
      X509_set_pubkey(x, key) != 1) {
    return OpenSslError("certificate fields");
  }
  X509_NAME* name = X509_get_subject_name(x);
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>(cn), -1, -1, 0) != 1 ||
      X509_set_issuer_name(x, issuer != nullptr ? X509_get_subject_name(issuer) : name) != 1) {
    return OpenSslError("certificate names");
  }
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : x, x, nullptr, nullptr, 0);
  absl::Status s = AddExtension(x, &ctx, NID_subject_key_identifier, "hash");
  if (ca) {
    if (s.ok()) s = AddExtension(x, &ctx, NID_basic_constraints, "critical,CA:TRUE");
    if (s.ok()) s = AddExtension(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    if (s.ok()) s = AddExtension(x, &ctx, NID_authority_key_identifier, "keyid:always");
    if (s.ok()) s = AddExtension(x, &ctx, NID_basic_constraints, "critical,CA:FALSE");
    if (s.ok()) s = AddExtension(x, &ctx, NID_key_usage, "critical,digitalSignature");
    if (s.ok()) s = AddExtension(x, &ctx, NID_ext_key_usage, "serverAuth");
    if (s.ok()) s = AddExtension(x, &ctx, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
  }
  if (!s.ok()) return s;
  if (X509_sign(x, issuer_key != nullptr ? issuer_key : key, EVP_sha256()) == 0) {
    return OpenSslError("X509_sign");
  }
  return cert;
}

absl::StatusOr<std::string> CertificatePem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return OpenSslError("PEM_write_bio_X509");
  }
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 304:
      return "Not Modified";
    case 404:
      return "Not Found";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

// Connection reads and writes one accepted socket, through TLS or not.
class Connection {
 public:
  Connection(int fd, SSL* ssl) : fd_(fd), ssl_(ssl) {}

  // Read appends up to `n` bytes to *out; false on EOF or error.
  bool Read(std::string* out, size_t n) {
    char buf[4096];
    const int want = static_cast<int>(std::min(n, sizeof(buf)));
    const int got = ssl_ != nullptr ? SSL_read(ssl_, buf, want) : ::recv(fd_, buf, want, 0);
    if (got <= 0) return false;
    out->append(buf, static_cast<size_t>(got));
    return true;
  }

  bool WriteAll(std::string_view data) {
    while (!data.empty()) {
      const int n = ssl_ != nullptr
                        ? SSL_write(ssl_, data.data(), static_cast<int>(data.size()))
                        : static_cast<int>(::send(fd_, data.data(), data.size(), MSG_NOSIGNAL));
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

 private:
  int fd_;
  SSL* ssl_;
};

bool ParseRequestHead(std::string_view head, HttpRequest* req) {
  size_t eol = head.find("\r\n");
  const std::string_view line = head.substr(0, eol);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos) return false;
  req->method = std::string(line.substr(0, sp1));
  req->target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
  while (eol != std::string_view::npos) {
    const size_t start = eol + 2;
    eol = head.find("\r\n", start);
    const std::string_view h =
        head.substr(start, eol == std::string_view::npos ? head.npos : eol - start);
    const size_t colon = h.find(':');
    if (colon == std::string_view::npos) continue;
    std::string name = absl::AsciiStrToLower(std::string(h.substr(0, colon)));
    std::string value(absl::StripAsciiWhitespace(std::string(h.substr(colon + 1))));
    req->headers.emplace_back(std::move(name), std::move(value));
  }
  return true;
}

}  // namespace

struct HttpsTestServer::Tls {
  SslCtxPtr ctx;
};

HttpResponse HttpResponse::Reply(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse HttpResponse::Raw(std::string bytes) {
  HttpResponse r;
  r.raw = std::move(bytes);
  return r;
}

HttpResponse HttpResponse::WithHeader(std::string name, std::string value) const {
  HttpResponse r = *this;
  r.headers.emplace_back(std::move(name), std::move(value));
  return r;
}

HttpResponse HttpResponse::WithDelay(absl::Duration d) const {
  HttpResponse r = *this;
  r.delay = d;
  return r;
}

std::string HttpRequest::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return "";
}

absl::StatusOr<std::unique_ptr<HttpsTestServer>> HttpsTestServer::Start(Options options) {
  // A client that hangs up mid-response must not kill the test with SIGPIPE.
  signal(SIGPIPE, SIG_IGN);
  auto server = std::unique_ptr<HttpsTestServer>(new HttpsTestServer());
  server->tls_enabled_ = options.tls;

  if (options.tls) {
    PkeyPtr ca_key(EVP_EC_gen("P-256"));
    PkeyPtr leaf_key(EVP_EC_gen("P-256"));
    if (ca_key == nullptr || leaf_key == nullptr) return OpenSslError("EVP_EC_gen");
    absl::StatusOr<X509Ptr> ca =
        MakeCertificate("popguard test CA", ca_key.get(), nullptr, nullptr, /*ca=*/true, 1);
    if (!ca.ok()) return ca.status();
    absl::StatusOr<X509Ptr> leaf =
        MakeCertificate("127.0.0.1", leaf_key.get(), ca->get(), ca_key.get(), /*ca=*/false, 2);
    if (!leaf.ok()) return leaf.status();
    absl::StatusOr<std::string> pem = CertificatePem(ca->get());
    if (!pem.ok()) return pem.status();
    server->ca_pem_ = *pem;

    server->tls_ = std::make_unique<Tls>();
    server->tls_->ctx.reset(SSL_CTX_new(TLS_server_method()));
    SSL_CTX* ctx = server->tls_->ctx.get();
    if (ctx == nullptr || SSL_CTX_use_certificate(ctx, leaf->get()) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, leaf_key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
      return OpenSslError("SSL_CTX setup");
    }

    std::string tmpl =
        (std::filesystem::temp_directory_path() / "https_test_server.XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) return absl::InternalError("mkdtemp failed");
    server->dir_ = tmpl;
    server->ca_file_ = (std::filesystem::path(tmpl) / "ca.pem").string();
    std::ofstream out(server->ca_file_, std::ios::binary);
    out << server->ca_pem_;
    if (!out.good()) return absl::InternalError("cannot write the CA file");
  }

  server->listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (server->listen_fd_ < 0) return absl::InternalError("socket failed");
  int one = 1;
  setsockopt(server->listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(server->listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(server->listen_fd_, 128) != 0 ||
      ::getsockname(server->listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return absl::InternalError(absl::StrCat("bind/listen failed: errno ", errno));
  }
  server->port_ = ntohs(addr.sin_port);
  server->accept_thread_ = std::thread([s = server.get()] { s->AcceptLoop(); });
  return server;
}

HttpsTestServer::~HttpsTestServer() {
  Stop();
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

void HttpsTestServer::Stop() {
  std::vector<std::thread> connections;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    // Wake the accept loop and every connection blocked in a read or write.
    if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
  }
  if (accept_thread_.joinable()) accept_thread_.join();
  {
    absl::MutexLock lock(&mu_);
    connections.swap(connections_);
  }
  for (std::thread& t : connections) t.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
}

std::string HttpsTestServer::Url(std::string_view path) const {
  return absl::StrCat(tls_enabled_ ? "https" : "http", "://127.0.0.1:", port_, std::string(path));
}

void HttpsTestServer::SetRoute(const std::string& target, HttpResponse response) {
  SetHandler(target, [response](const HttpRequest&) { return response; });
}

void HttpsTestServer::SetHandler(const std::string& target, Handler handler) {
  absl::MutexLock lock(&mu_);
  routes_[target] = std::move(handler);
}

void HttpsTestServer::RemoveRoute(const std::string& target) {
  absl::MutexLock lock(&mu_);
  routes_.erase(target);
}

int HttpsTestServer::RequestCount(const std::string& target) const {
  absl::MutexLock lock(&mu_);
  auto it = counts_.find(target);
  return it == counts_.end() ? 0 : it->second;
}

int HttpsTestServer::TotalRequests() const {
  absl::MutexLock lock(&mu_);
  return total_;
}

HttpRequest HttpsTestServer::LastRequest(const std::string& target) const {
  absl::MutexLock lock(&mu_);
  auto it = last_.find(target);
  return it == last_.end() ? HttpRequest() : it->second;
}

void HttpsTestServer::AcceptLoop() {
  while (true) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      if (fd >= 0) ::close(fd);
      return;
    }
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    // A stuck client must not keep a test waiting for long.
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    open_fds_.insert(fd);
    connections_.emplace_back([this, fd] { Serve(fd); });
  }
}

HttpResponse HttpsTestServer::Respond(const HttpRequest& request) {
  Handler handler;
  {
    absl::MutexLock lock(&mu_);
    ++total_;
    ++counts_[request.target];
    last_[request.target] = request;
    auto it = routes_.find(request.target);
    if (it != routes_.end()) handler = it->second;
  }
  if (!handler) return HttpResponse::Reply(404, "not found");
  return handler(request);
}

void HttpsTestServer::Serve(int fd) {
  SslPtr ssl;
  bool ok = true;
  if (tls_ != nullptr) {
    ssl.reset(SSL_new(tls_->ctx.get()));
    ok = ssl != nullptr && SSL_set_fd(ssl.get(), fd) == 1 && SSL_accept(ssl.get()) == 1;
  }
  Connection conn(fd, ssl.get());
  std::string head;
  while (ok && head.find("\r\n\r\n") == std::string::npos) {
    if (head.size() > kMaxRequestHead || !conn.Read(&head, kMaxRequestHead)) ok = false;
  }
  HttpRequest request;
  if (ok) ok = ParseRequestHead(head.substr(0, head.find("\r\n\r\n")), &request);
  if (ok) {
    HttpResponse response = Respond(request);
    if (response.delay > absl::ZeroDuration()) {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), response.delay);
      ok = !stopping_;
    }
    if (ok) {
      std::string out = response.raw;
      if (out.empty()) {
        out = absl::StrCat("HTTP/1.1 ", response.status, " ",
                           std::string(ReasonPhrase(response.status)), "\r\n");
        for (const auto& [k, v] : response.headers) absl::StrAppend(&out, k, ": ", v, "\r\n");
        if (response.status != 304) {
          absl::StrAppend(&out, "Content-Length: ", response.body.size(), "\r\n");
        }
        absl::StrAppend(&out, "Connection: close\r\n\r\n");
        if (response.status != 304) out += response.body;
      }
      conn.WriteAll(out);
    }
  }
  if (ssl != nullptr) {
    ERR_clear_error();
    SSL_shutdown(ssl.get());
  }
  ERR_clear_error();
  {
    absl::MutexLock lock(&mu_);
    open_fds_.erase(fd);
  }
  ::close(fd);
}

}  // namespace popguard::testserver
