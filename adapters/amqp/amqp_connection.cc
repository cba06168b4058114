#include "adapters/amqp/amqp_connection.h"

#include <amqp.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <utility>
#include <vector>

namespace vecmesh::adapters {

using engine::CallOptions;
using engine::Status;
using engine::StatusOr;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr amqp_channel_t kChannel = 1;
constexpr int kFrameMax = 131072;  // the broker's default
constexpr const char* kSystemCaBundle = "/etc/ssl/certs/ca-certificates.crt";
// Bounds the wait for the rest of a message once its method frame came (the broker sends its
// frames back to back), and the channel reopened after the broker closed it, when the caller's
// deadline is nearer: leaving either half done would desynchronise the connection.
constexpr milliseconds kMinFollowUp{2000};
// The close handshake in the destructor.
constexpr milliseconds kCloseTimeout{1000};

// Channels get process-unique numbers, so that a delivery tag names its channel (AmqpDeliveryTag).
std::atomic<uint64_t> next_channel_id{1};

std::string Text(amqp_bytes_t bytes) {
  return bytes.len == 0 ? std::string()
                        : std::string(static_cast<const char*>(bytes.bytes), bytes.len);
}

amqp_bytes_t Bytes(std::string_view text) {
  return amqp_bytes_t{text.size(), const_cast<char*>(text.data())};
}

// A timeval for the time left until `deadline` (zero when it passed).
timeval Remaining(Clock::time_point deadline) {
  const auto left = std::max(Clock::duration::zero(), deadline - Clock::now());
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(left).count();
  return timeval{static_cast<time_t>(us / 1000000), static_cast<suseconds_t>(us % 1000000)};
}

std::string LibraryError(int status, int saved_errno) {
  std::string text = amqp_error_string2(status);
  if (status == AMQP_STATUS_SOCKET_ERROR && saved_errno != 0) {
    text += std::string(" (") + std::strerror(saved_errno) + ")";
  }
  return text;
}

// A code for an error the broker reported by closing a channel (AMQP 0-9-1 reply codes).
engine::StatusCode CodeOfChannelClose(uint16_t reply_code) {
  switch (reply_code) {
    case AMQP_PRECONDITION_FAILED:  // 406: e.g. a declaration with other arguments
    case AMQP_RESOURCE_LOCKED:      // 405: an exclusive queue of another connection
      return engine::StatusCode::kFailedPrecondition;
    case AMQP_NOT_FOUND:  // 404
      return engine::StatusCode::kNotFound;
    case AMQP_ACCESS_REFUSED:  // 403
      return engine::StatusCode::kPermissionDenied;
    default:
      return engine::StatusCode::kUnavailable;
  }
}

// Header values as text: strings, integers, booleans; nullopt for the rest.
std::optional<std::string> FieldText(const amqp_field_value_t& v) {
  switch (v.kind) {
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES:
      return Text(v.value.bytes);
    case AMQP_FIELD_KIND_BOOLEAN:
      return std::string(v.value.boolean ? "true" : "false");
    case AMQP_FIELD_KIND_I8:
      return std::to_string(v.value.i8);
    case AMQP_FIELD_KIND_U8:
      return std::to_string(v.value.u8);
    case AMQP_FIELD_KIND_I16:
      return std::to_string(v.value.i16);
    case AMQP_FIELD_KIND_U16:
      return std::to_string(v.value.u16);
    case AMQP_FIELD_KIND_I32:
      return std::to_string(v.value.i32);
    case AMQP_FIELD_KIND_U32:
      return std::to_string(v.value.u32);
    case AMQP_FIELD_KIND_I64:
    case AMQP_FIELD_KIND_TIMESTAMP:
      return std::to_string(v.value.i64);
    case AMQP_FIELD_KIND_U64:
      return std::to_string(v.value.u64);
    default:
      return std::nullopt;
  }
}

// A table of long-string values whose bytes stay owned by `pairs`.
struct StringTable {
  explicit StringTable(const std::vector<std::pair<std::string, std::string>>& pairs) {
    entries.reserve(pairs.size());
    for (const auto& [key, value] : pairs) {
      amqp_table_entry_t entry;
      entry.key = Bytes(key);
      entry.value.kind = AMQP_FIELD_KIND_UTF8;
      entry.value.value.bytes = Bytes(value);
      entries.push_back(entry);
    }
  }
  amqp_table_t table() {
    return amqp_table_t{static_cast<int>(entries.size()),
                        entries.empty() ? nullptr : entries.data()};
  }
  std::vector<amqp_table_entry_t> entries;
};

// What OpenSSL found wrong with the broker's certificate chain (host name included: see Open),
// recorded during the handshake by RecordVerifyError. rabbitmq-c 0.11 keeps none of it: it only
// says "SSL peer cert verification failed".
struct TlsVerifyFailure {
  int error = X509_V_OK;  // the first X509_V_ERR_*
  int depth = -1;         // of the certificate it is about (0: the broker's own)
  std::string subject;    // that certificate's subject
};

// The SSL_CTX slot that points a handshake's verify callback at its TlsVerifyFailure.
int TlsVerifyFailureIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// OpenSSL's verify callback: records the first error and returns `ok` unchanged, so the
// handshake goes as rabbitmq-c set it up (it checks the verification's result afterwards).
int RecordVerifyError(int ok, X509_STORE_CTX* store) {
  if (ok) return ok;
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* failure = ssl == nullptr ? nullptr
                                 : static_cast<TlsVerifyFailure*>(SSL_CTX_get_ex_data(
                                       SSL_get_SSL_CTX(ssl), TlsVerifyFailureIndex()));
  if (failure != nullptr && failure->error == X509_V_OK) {
    failure->error = X509_STORE_CTX_get_error(store);
    failure->depth = X509_STORE_CTX_get_error_depth(store);
    if (X509* cert = X509_STORE_CTX_get_current_cert(store)) {
      char name[256];
      X509_NAME_oneline(X509_get_subject_name(cert), name, sizeof name);
      failure->subject = name;
    }
  }
  return ok;
}

// Why opening a TLS connection failed, for a person: rabbitmq-c's codes say only which step.
std::string TlsOpenError(int rc, const AmqpUrl& url, const std::string& ca_file,
                         const TlsVerifyFailure& failure) {
  if (rc == AMQP_STATUS_SSL_PEER_VERIFY_FAILED) {
    if (failure.error == X509_V_ERR_HOSTNAME_MISMATCH ||
        failure.error == X509_V_ERR_IP_ADDRESS_MISMATCH) {
      return "TLS: the broker's certificate was not verified: it is not for '" + url.host + "' (" +
             X509_verify_cert_error_string(failure.error) +
             "); connect by a name or IP address it gives";
    }
    std::string text = "TLS: the broker's certificate was not verified against ";
    text += ca_file.empty() ? std::string("the system's CA bundle ") + kSystemCaBundle
                            : "the CA file '" + ca_file + "'";
    if (failure.error != X509_V_OK) {
      text += std::string(": ") + X509_verify_cert_error_string(failure.error) + " (certificate " +
              failure.subject + ", depth " + std::to_string(failure.depth) + ")";
    }
    return text + "; trust the CA that signs it";
  }
  if (rc == AMQP_STATUS_SSL_CONNECTION_FAILED || rc == AMQP_STATUS_SSL_ERROR) {
    // OpenSSL's reason (e.g. "wrong version number": that port does not speak TLS) is on this
    // thread's error queue.
    const unsigned long error = ERR_peek_last_error();
    const char* reason = error == 0 ? nullptr : ERR_reason_error_string(error);
    ERR_clear_error();
    return "TLS handshake failed" + (reason ? std::string(": ") + reason : std::string()) +
           " (is that port the broker's TLS listener?)";
  }
  return LibraryError(rc, errno);
}

}  // namespace

struct AmqpConnection::Impl {
  Impl(AmqpUrl u, AmqpOptions o) : url(std::move(u)), options(std::move(o)) {}
  ~Impl() {
    if (conn == nullptr) return;
    if (opened && !broken) {
      const timeval tv = Remaining(Clock::now() + kCloseTimeout);
      amqp_set_rpc_timeout(conn, &tv);
      amqp_channel_close(conn, kChannel, AMQP_REPLY_SUCCESS);
      amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    }
    amqp_destroy_connection(conn);
  }

  const AmqpUrl url;
  const AmqpOptions options;
  amqp_connection_state_t conn = nullptr;
  TlsVerifyFailure tls_failure;  // amqps: filled in by the handshake's verify callback
  bool opened = false;           // logged in
  bool broken = false;
  std::string broken_reason;
  std::string blocked_reason;

  uint64_t channel_id = 0;   // of the channel open now; 0: none
  uint64_t publish_seq = 0;  // the last delivery tag the broker gave a publish on this channel
  // The confirm a Publish waits for (0: none) and what came for it.
  enum class Outcome { kNone, kAck, kNack };
  uint64_t awaited_tag = 0;
  Outcome outcome = Outcome::kNone;
  std::string awaited_return;  // why the broker returned the awaited message; "" when it did not
  // A basic.return not yet matched to its basic.ack (the broker sends the return first).
  std::string pending_return;

  bool consuming = false;
  std::string consumer_tag;
  std::string consumer_gone;  // why there is no consumer any more; "" when none was started
  std::deque<AmqpDelivery> deliveries;

  std::string Where(std::string_view what) const {
    return url.ToString() + ": " + std::string(what);
  }

  Clock::time_point Deadline(const CallOptions& call) const {
    if (options.operation_timeout_ms <= 0) return call.deadline;
    return std::min(call.deadline, Clock::now() + milliseconds(options.operation_timeout_ms));
  }
  Clock::time_point FollowUpDeadline(Clock::time_point deadline) const {
    return std::max(deadline, Clock::now() + kMinFollowUp);
  }

  Status Broken(std::string_view what) const {
    return Status::Unavailable(Where(what) + ": the connection is broken (" + broken_reason +
                               "); open a new one");
  }

  void MarkBroken(std::string reason) {
    if (!broken) broken_reason = std::move(reason);
    broken = true;
    consuming = false;
    if (consumer_gone.empty()) consumer_gone = "the connection broke";
    deliveries.clear();  // their tags died with the channel; the broker redelivers them
  }

  void SetRpcTimeout(Clock::time_point deadline) {
    if (deadline == Clock::time_point::max()) {
      amqp_set_rpc_timeout(conn, nullptr);
    } else {
      const timeval tv = Remaining(deadline);
      amqp_set_rpc_timeout(conn, &tv);
    }
  }

  // The answer to an RPC (or the login) as a Status.
  Status ReplyStatus(const amqp_rpc_reply_t& reply, std::string_view what) {
    switch (reply.reply_type) {
      case AMQP_RESPONSE_NORMAL:
        return Status::Ok();
      case AMQP_RESPONSE_NONE:
        MarkBroken("no reply from rabbitmq-c");
        return Broken(what);
      case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        if (reply.library_error == AMQP_STATUS_TIMEOUT) {
          // rabbitmq-c closes the connection after an RPC timeout.
          MarkBroken(std::string(what) + " got no answer in time");
          return Status::Unavailable(Where(what) +
                                     ": no answer from the broker by the deadline; the connection "
                                     "is dropped");
        }
        MarkBroken(LibraryError(reply.library_error, errno));
        return Status::Unavailable(Where(what) + ": " + broken_reason);
      case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
          return OnChannelClosed(*static_cast<amqp_channel_close_t*>(reply.reply.decoded), what);
        }
        if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
          return OnConnectionClosed(*static_cast<amqp_connection_close_t*>(reply.reply.decoded),
                                    what);
        }
        MarkBroken("unexpected method from the broker");
        return Broken(what);
    }
    return Status::Internal(Where(what) + ": unknown reply type");
  }

  // Runs one RPC of rabbitmq-c (`call` returns the library's answer pointer) under `deadline`.
  template <typename F>
  Status Rpc(Clock::time_point deadline, std::string_view what, F&& call) {
    if (broken) return Broken(what);
    if (Clock::now() >= deadline) {
      return Status::Unavailable(Where(what) + ": its deadline passed before it was sent");
    }
    SetRpcTimeout(deadline);
    call();
    const Status status = ReplyStatus(amqp_get_rpc_reply(conn), what);
    amqp_maybe_release_buffers(conn);
    return status;
  }

  // The broker closed the channel: acknowledge, forget what lived on it, open a new one.
  Status OnChannelClosed(const amqp_channel_close_t& close, std::string_view what) {
    const std::string reason = std::to_string(close.reply_code) + " " + Text(close.reply_text);
    amqp_channel_close_ok_t ok{};
    const int rc = amqp_send_method(conn, kChannel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
    channel_id = 0;
    awaited_tag = 0;
    pending_return.clear();
    deliveries.clear();
    if (consuming) consumer_gone = "the broker closed the channel (" + reason + ")";
    consuming = false;
    const Status status =
        Status::WithCode(CodeOfChannelClose(close.reply_code), Where(what) + ": " + reason);
    if (rc != AMQP_STATUS_OK) {
      MarkBroken(LibraryError(rc, errno));
      return status;
    }
    const Status reopened = OpenChannel(Clock::now() + kMinFollowUp);
    if (!reopened.ok()) {
      return Status::Unavailable(status.message() +
                                 "; reopening the channel failed: " + reopened.message());
    }
    return status;
  }

  Status OnConnectionClosed(const amqp_connection_close_t& close, std::string_view what) {
    const std::string reason = std::to_string(close.reply_code) + " " + Text(close.reply_text);
    amqp_connection_close_ok_t ok{};
    amqp_send_method(conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
    MarkBroken("the broker closed the connection: " + reason);
    return Status::Unavailable(Where(what) + ": the broker closed the connection: " + reason);
  }

  Status OpenChannel(Clock::time_point deadline) {
    Status status = Rpc(deadline, "channel.open", [&] { amqp_channel_open(conn, kChannel); });
    if (!status.ok()) return status;
    status = Rpc(deadline, "confirm.select", [&] { amqp_confirm_select(conn, kChannel); });
    if (!status.ok()) return status;
    channel_id = next_channel_id.fetch_add(1);
    publish_seq = 0;
    return Status::Ok();
  }

  enum class Wait { kFrame, kTimeout, kBroken };
  Wait WaitFrame(Clock::time_point deadline, amqp_frame_t* frame) {
    const timeval tv = Remaining(deadline);
    errno = 0;
    const int rc = amqp_simple_wait_frame_noblock(conn, frame, &tv);
    if (rc == AMQP_STATUS_OK) return Wait::kFrame;
    if (rc == AMQP_STATUS_TIMEOUT) return Wait::kTimeout;
    MarkBroken(LibraryError(rc, errno));
    return Wait::kBroken;
  }

  // The next frame of a message's content, of `type` (AMQP_FRAME_HEADER or AMQP_FRAME_BODY), by
  // `deadline`; anything else leaves the connection out of step, so it is broken.
  Status NextContentFrame(Clock::time_point deadline, uint8_t type, std::string_view what,
                          amqp_frame_t* frame) {
    const std::string part = type == AMQP_FRAME_HEADER ? "header" : "body";
    switch (WaitFrame(deadline, frame)) {
      case Wait::kFrame:
        if (frame->frame_type == type && frame->channel == kChannel) return Status::Ok();
        MarkBroken("a frame out of order where a content " + part + " was due");
        return Broken(what);
      case Wait::kTimeout:
        MarkBroken("a message's content " + part + " did not follow in time");
        return Broken(what);
      case Wait::kBroken:
        return Broken(what);
    }
    return Broken(what);
  }

  // Reads the content (header and body frames) after a basic.deliver or basic.return.
  Status ReadContent(AmqpMessage* message, uint8_t* delivery_mode, std::string_view what) {
    const Clock::time_point deadline = FollowUpDeadline(Clock::now());
    amqp_frame_t frame;
    Status status = NextContentFrame(deadline, AMQP_FRAME_HEADER, what, &frame);
    if (!status.ok()) return status;
    const uint64_t body_size = frame.payload.properties.body_size;
    const auto* p = static_cast<const amqp_basic_properties_t*>(frame.payload.properties.decoded);
    if (message != nullptr && p != nullptr) {
      const amqp_flags_t f = p->_flags;
      message->content_type = f & AMQP_BASIC_CONTENT_TYPE_FLAG ? Text(p->content_type) : "";
      if (f & AMQP_BASIC_MESSAGE_ID_FLAG) message->message_id = Text(p->message_id);
      if (f & AMQP_BASIC_CORRELATION_ID_FLAG) message->correlation_id = Text(p->correlation_id);
      if (f & AMQP_BASIC_REPLY_TO_FLAG) message->reply_to = Text(p->reply_to);
      if (f & AMQP_BASIC_DELIVERY_MODE_FLAG) *delivery_mode = p->delivery_mode;
      if (f & AMQP_BASIC_HEADERS_FLAG) {
        for (int i = 0; i < p->headers.num_entries; ++i) {
          const amqp_table_entry_t& entry = p->headers.entries[i];
          if (auto value = FieldText(entry.value)) {
            message->headers.emplace_back(Text(entry.key), std::move(*value));
          }
        }
      }
    }
    std::string body;
    body.reserve(body_size);
    while (body.size() < body_size) {
      status = NextContentFrame(deadline, AMQP_FRAME_BODY, what, &frame);
      if (!status.ok()) return status;
      body.append(static_cast<const char*>(frame.payload.body_fragment.bytes),
                  frame.payload.body_fragment.len);
    }
    if (message != nullptr) message->body = std::move(body);
    return Status::Ok();
  }

  // Sends basic.ack or basic.nack (`send` returns rabbitmq-c's status) for a delivery of the
  // channel open now. Nothing comes back: a tag the broker does not know closes the channel later.
  template <typename F>
  Status Settle(AmqpDeliveryTag tag, std::string_view what, F&& send) {
    if (broken) return Broken(what);
    if (tag.channel != channel_id || channel_id == 0) {
      return Status::FailedPrecondition(Where(what) +
                                        ": the delivery came on a channel that is gone; the "
                                        "broker redelivers it");
    }
    errno = 0;
    const int rc = send();
    if (rc != AMQP_STATUS_OK) {
      MarkBroken(LibraryError(rc, errno));
      return Broken(what);
    }
    return Status::Ok();
  }

  void OnConfirm(uint64_t tag, bool multiple, bool ack) {
    if (awaited_tag != 0 && (tag == awaited_tag || (multiple && tag >= awaited_tag))) {
      outcome = ack ? Outcome::kAck : Outcome::kNack;
      awaited_return = std::move(pending_return);
      awaited_tag = 0;
    }
    // A confirm of an earlier message (one whose Publish gave up waiting) also settles any
    // return that came before it.
    pending_return.clear();
  }

  // Acts on one frame that is not the answer to an RPC. Not Ok when the channel or the
  // connection closed (the message says why).
  Status HandleFrame(const amqp_frame_t& frame, std::string_view what) {
    if (frame.frame_type != AMQP_FRAME_METHOD) return Status::Ok();  // stray content: skip it
    const amqp_method_t& method = frame.payload.method;
    switch (method.id) {
      case AMQP_BASIC_ACK_METHOD: {
        const auto* m = static_cast<const amqp_basic_ack_t*>(method.decoded);
        OnConfirm(m->delivery_tag, m->multiple != 0, true);
        return Status::Ok();
      }
      case AMQP_BASIC_NACK_METHOD: {
        const auto* m = static_cast<const amqp_basic_nack_t*>(method.decoded);
        OnConfirm(m->delivery_tag, m->multiple != 0, false);
        return Status::Ok();
      }
      case AMQP_BASIC_RETURN_METHOD: {
        const auto* m = static_cast<const amqp_basic_return_t*>(method.decoded);
        std::string reason = std::to_string(m->reply_code) + " " + Text(m->reply_text) +
                             ": no queue is bound to routing key '" + Text(m->routing_key) +
                             "' on exchange '" + Text(m->exchange) + "'";
        uint8_t mode = 0;
        Status status = ReadContent(nullptr, &mode, what);
        if (!status.ok()) return status;
        pending_return = std::move(reason);
        return Status::Ok();
      }
      case AMQP_BASIC_DELIVER_METHOD: {
        const auto* m = static_cast<const amqp_basic_deliver_t*>(method.decoded);
        AmqpDelivery delivery;
        delivery.delivery_tag = AmqpDeliveryTag{channel_id, m->delivery_tag};
        delivery.redelivered = m->redelivered != 0;
        delivery.exchange = Text(m->exchange);
        delivery.routing_key = Text(m->routing_key);
        delivery.message.content_type.clear();
        Status status = ReadContent(&delivery.message, &delivery.delivery_mode, what);
        if (!status.ok()) return status;
        deliveries.push_back(std::move(delivery));
        return Status::Ok();
      }
      case AMQP_BASIC_CANCEL_METHOD:
        consuming = false;
        consumer_gone = "the broker cancelled the consumer (was its queue deleted?)";
        return Status::Ok();
      case AMQP_CHANNEL_CLOSE_METHOD:
        return OnChannelClosed(*static_cast<const amqp_channel_close_t*>(method.decoded), what);
      case AMQP_CONNECTION_CLOSE_METHOD:
        return OnConnectionClosed(*static_cast<const amqp_connection_close_t*>(method.decoded),
                                  what);
      case AMQP_CONNECTION_BLOCKED_METHOD: {
        const auto* m = static_cast<const amqp_connection_blocked_t*>(method.decoded);
        blocked_reason = Text(m->reason);
        if (blocked_reason.empty()) blocked_reason = "blocked";
        return Status::Ok();
      }
      case AMQP_CONNECTION_UNBLOCKED_METHOD:
        blocked_reason.clear();
        return Status::Ok();
      default:
        return Status::Ok();
    }
  }
};

AmqpConnection::AmqpConnection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AmqpConnection::~AmqpConnection() = default;

bool AmqpConnection::broken() const { return impl_->broken; }
bool AmqpConnection::consuming() const { return impl_->consuming; }
const std::string& AmqpConnection::blocked_reason() const { return impl_->blocked_reason; }
const AmqpUrl& AmqpConnection::url() const { return impl_->url; }

StatusOr<std::unique_ptr<AmqpConnection>> AmqpConnection::Open(const AmqpUrl& url,
                                                               const AmqpOptions& options,
                                                               const CallOptions& call) {
  const std::string where = url.ToString();
  if (options.heartbeat_s < 1 || options.heartbeat_s > 65535) {
    return Status::InvalidArgument(where +
                                   ": heartbeat_s must be 1..65535 (0 would disable "
                                   "heartbeats)");
  }
  if (call.Expired()) {
    return Status::Unavailable(where + ": connect: its deadline passed before it started");
  }
  auto impl = std::make_unique<Impl>(url, options);
  impl->conn = amqp_new_connection();
  if (impl->conn == nullptr) return Status::Internal(where + ": out of memory");
  amqp_socket_t* socket =
      url.tls ? amqp_ssl_socket_new(impl->conn) : amqp_tcp_socket_new(impl->conn);
  if (socket == nullptr) return Status::Internal(where + ": cannot create a socket");
  if (url.tls) {
    const std::string ca = options.ca_file.empty() ? kSystemCaBundle : options.ca_file;
    if (amqp_ssl_socket_set_cacert(socket, ca.c_str()) != AMQP_STATUS_OK) {
      ERR_clear_error();
      return Status::InvalidArgument(where + ": cannot read the CA file '" + ca + "'");
    }
    // The host is checked by OpenSSL, as part of the chain's verification: rabbitmq-c 0.11's own
    // check (X509_check_host) takes the host for a DNS name, so an IP address never matched the
    // IP address a certificate gives. A mismatch fails the peer verification.
    auto* ctx = static_cast<SSL_CTX*>(amqp_ssl_socket_get_context(socket));
    X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (X509_VERIFY_PARAM_set1_ip_asc(param, url.host.c_str()) != 1 &&
        X509_VERIFY_PARAM_set1_host(param, url.host.c_str(), 0) != 1) {
      ERR_clear_error();
      return Status::InvalidArgument(where + ": cannot check the broker's certificate for '" +
                                     url.host + "'");
    }
    ERR_clear_error();  // set1_ip_asc's complaint about a host name
    amqp_ssl_socket_set_verify_peer(socket, 1);
    amqp_ssl_socket_set_verify_hostname(socket, 0);
    SSL_CTX_set_ex_data(ctx, TlsVerifyFailureIndex(), &impl->tls_failure);
    SSL_CTX_set_verify(ctx, SSL_CTX_get_verify_mode(ctx), RecordVerifyError);
  }

  Clock::time_point deadline = call.deadline;
  if (options.connect_timeout_ms > 0) {
    deadline = std::min(deadline, Clock::now() + milliseconds(options.connect_timeout_ms));
  }
  timeval tv = Remaining(deadline);
  errno = 0;
  int rc = amqp_socket_open_noblock(socket, url.host.c_str(), url.port,
                                    deadline == Clock::time_point::max() ? nullptr : &tv);
  if (rc != AMQP_STATUS_OK) {
    // rabbitmq-c connects without blocking and keeps no errno of the failure (it says "a socket
    // error occurred", errno EINPROGRESS), so name the usual causes.
    const std::string cause =
        rc == AMQP_STATUS_TIMEOUT ? "no connection within the connect timeout"
        : rc == AMQP_STATUS_SOCKET_ERROR
            ? "connection refused or host unreachable (is the broker running and listening on "
              "that port?)"
        : url.tls ? TlsOpenError(rc, url, options.ca_file, impl->tls_failure)
                  : LibraryError(rc, errno);
    return Status::Unavailable(where + ": cannot connect to the broker: " + cause);
  }

  // Client properties: a name for operators, and the capabilities we handle (connection.blocked
  // notifications, the broker cancelling our consumer, a clear close on a refused login).
  amqp_table_entry_t capabilities[3];
  const char* capability_names[] = {"connection.blocked", "consumer_cancel_notify",
                                    "authentication_failure_close"};
  for (int i = 0; i < 3; ++i) {
    capabilities[i].key = amqp_cstring_bytes(capability_names[i]);
    capabilities[i].value.kind = AMQP_FIELD_KIND_BOOLEAN;
    capabilities[i].value.value.boolean = 1;
  }
  amqp_table_entry_t properties[2];
  properties[0].key = amqp_cstring_bytes("connection_name");
  properties[0].value.kind = AMQP_FIELD_KIND_UTF8;
  properties[0].value.value.bytes = Bytes(options.connection_name);
  properties[1].key = amqp_cstring_bytes("capabilities");
  properties[1].value.kind = AMQP_FIELD_KIND_TABLE;
  properties[1].value.value.table = amqp_table_t{3, capabilities};
  const amqp_table_t client_properties{2, properties};

  tv = Remaining(deadline);
  amqp_set_handshake_timeout(impl->conn, deadline == Clock::time_point::max() ? nullptr : &tv);
  errno = 0;
  const amqp_rpc_reply_t login = amqp_login_with_properties(
      impl->conn, url.vhost.c_str(), 0, kFrameMax, options.heartbeat_s, &client_properties,
      AMQP_SASL_METHOD_PLAIN, url.user.c_str(), url.password.c_str());
  const std::string login_what = "log in as '" + url.user + "' to vhost '" + url.vhost + "'";
  if (login.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
      login.library_error == AMQP_STATUS_TIMEOUT) {
    return Status::Unavailable(where + ": " + login_what +
                               ": the broker did not finish the handshake within the connect "
                               "timeout");
  }
  Status status = impl->ReplyStatus(login, login_what);
  if (!status.ok()) return Status::Unavailable(status.message());
  impl->opened = true;
  status = impl->OpenChannel(impl->FollowUpDeadline(deadline));
  if (!status.ok()) return Status::Unavailable(status.message());
  return std::unique_ptr<AmqpConnection>(new AmqpConnection(std::move(impl)));
}

Status AmqpConnection::DeclareTopology(const CallOptions& call, const AmqpTopology& topology) {
  Impl& s = *impl_;
  const Clock::time_point deadline = s.Deadline(call);
  for (const AmqpExchangeSpec& e : topology.exchanges) {
    Status status = s.Rpc(deadline, "declare exchange '" + e.name + "'", [&] {
      amqp_exchange_declare(s.conn, kChannel, Bytes(e.name), Bytes(e.type), 0, e.durable, 0, 0,
                            amqp_empty_table);
    });
    if (!status.ok()) return status;
  }
  for (const AmqpQueueSpec& q : topology.queues) {
    StringTable arguments(q.arguments);
    Status status = s.Rpc(deadline, "declare queue '" + q.name + "'", [&] {
      amqp_queue_declare(s.conn, kChannel, Bytes(q.name), 0, q.durable, 0, 0, arguments.table());
    });
    if (!status.ok()) return status;
  }
  for (const AmqpBindingSpec& b : topology.bindings) {
    Status status = s.Rpc(deadline,
                          "bind queue '" + b.queue + "' to exchange '" + b.exchange +
                              "' with routing key '" + b.routing_key + "'",
                          [&] {
                            amqp_queue_bind(s.conn, kChannel, Bytes(b.queue), Bytes(b.exchange),
                                            Bytes(b.routing_key), amqp_empty_table);
                          });
    if (!status.ok()) return status;
  }
  return Status::Ok();
}

Status AmqpConnection::Publish(const CallOptions& call, const AmqpMessage& message) {
  return Publish(call, "", kJobQueue, message);
}

Status AmqpConnection::Publish(const CallOptions& call, std::string_view exchange,
                               std::string_view routing_key, const AmqpMessage& message) {
  Impl& s = *impl_;
  const std::string what = "publish to exchange '" + std::string(exchange) +
                           "' with routing key '" + std::string(routing_key) + "'";
  if (s.broken) return s.Broken(what);
  if (call.Expired()) {
    return Status::Unavailable(s.Where(what) + ": its deadline passed before it was sent");
  }
  if (s.channel_id == 0) {
    Status reopened = s.OpenChannel(s.FollowUpDeadline(s.Deadline(call)));
    if (!reopened.ok()) return Status::Unavailable(reopened.message());
  }
  const Clock::time_point deadline = s.Deadline(call);

  amqp_basic_properties_t props{};
  props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
  props.content_type = Bytes(message.content_type);
  props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
  if (!message.message_id.empty()) {
    props._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
    props.message_id = Bytes(message.message_id);
  }
  if (!message.correlation_id.empty()) {
    props._flags |= AMQP_BASIC_CORRELATION_ID_FLAG;
    props.correlation_id = Bytes(message.correlation_id);
  }
  if (!message.reply_to.empty()) {
    props._flags |= AMQP_BASIC_REPLY_TO_FLAG;
    props.reply_to = Bytes(message.reply_to);
  }
  StringTable headers(message.headers);
  if (!message.headers.empty()) {
    props._flags |= AMQP_BASIC_HEADERS_FLAG;
    props.headers = headers.table();
  }

  errno = 0;
  const int rc = amqp_basic_publish(s.conn, kChannel, Bytes(exchange), Bytes(routing_key),
                                    /*mandatory=*/1, /*immediate=*/0, &props, Bytes(message.body));
  if (rc != AMQP_STATUS_OK) {
    s.MarkBroken(LibraryError(rc, errno));
    return Status::Unavailable(s.Where(what) + ": the connection broke while sending (" +
                               s.broken_reason + ")");
  }
  s.awaited_tag = ++s.publish_seq;
  s.outcome = Impl::Outcome::kNone;
  s.awaited_return.clear();
  while (s.outcome == Impl::Outcome::kNone) {
    amqp_frame_t frame;
    switch (s.WaitFrame(deadline, &frame)) {
      case Impl::Wait::kFrame:
        break;
      case Impl::Wait::kTimeout: {
        s.awaited_tag = 0;  // a late confirm is ignored
        std::string message_text =
            s.Where(what) + ": not confirmed by the broker by the deadline (it may still store it)";
        if (!s.blocked_reason.empty()) {
          message_text += "; the broker blocks publishers: " + s.blocked_reason;
        }
        return Status::Unavailable(message_text);
      }
      case Impl::Wait::kBroken:
        return Status::Unavailable(s.Where(what) +
                                   ": the connection broke before the broker confirmed it (" +
                                   s.broken_reason + ")");
    }
    Status status = s.HandleFrame(frame, what);
    amqp_maybe_release_buffers(s.conn);
    if (!status.ok()) {
      // A publish the broker refuses (no such exchange) closes the channel before any confirm;
      // a connection that closes may have stored the message or not.
      return Status::Unavailable(status.message() +
                                 (s.broken ? " (before the broker confirmed the message; it may "
                                             "or may not be stored)"
                                           : " (the channel closed before a confirm)"));
    }
  }
  if (s.outcome == Impl::Outcome::kNack) {
    return Status::Unavailable(s.Where(what) + ": nacked by the broker: it was not stored");
  }
  if (!s.awaited_return.empty()) {
    return Status::Unavailable(s.Where(what) + ": returned by the broker (" + s.awaited_return +
                               "): it was not stored");
  }
  return Status::Ok();
}

Status AmqpConnection::Consume(const CallOptions& call, std::string_view queue, uint16_t prefetch) {
  Impl& s = *impl_;
  const std::string what = "consume queue '" + std::string(queue) + "'";
  if (s.broken) return s.Broken(what);
  if (s.consuming) {
    return Status::FailedPrecondition(s.Where(what) + ": a consumer is active on this connection");
  }
  const Clock::time_point deadline = s.Deadline(call);
  if (s.channel_id == 0) {
    Status reopened = s.OpenChannel(s.FollowUpDeadline(deadline));
    if (!reopened.ok()) return reopened;
  }
  Status status = s.Rpc(deadline, "basic.qos prefetch " + std::to_string(prefetch),
                        [&] { amqp_basic_qos(s.conn, kChannel, 0, prefetch, 0); });
  if (!status.ok()) return status;
  std::string tag;
  status = s.Rpc(deadline, what, [&] {
    const amqp_basic_consume_ok_t* ok = amqp_basic_consume(
        s.conn, kChannel, Bytes(queue), amqp_empty_bytes, 0, /*no_ack=*/0, 0, amqp_empty_table);
    if (ok != nullptr) tag = Text(ok->consumer_tag);
  });
  if (!status.ok()) return status;
  s.consumer_tag = std::move(tag);
  s.consuming = true;
  s.consumer_gone.clear();
  return Status::Ok();
}

StatusOr<std::optional<AmqpDelivery>> AmqpConnection::Next(milliseconds timeout) {
  Impl& s = *impl_;
  const Clock::time_point deadline = Clock::now() + std::max(timeout, milliseconds(0));
  while (true) {
    if (!s.deliveries.empty()) {
      AmqpDelivery delivery = std::move(s.deliveries.front());
      s.deliveries.pop_front();
      return std::optional<AmqpDelivery>(std::move(delivery));
    }
    if (s.broken) return s.Broken("next delivery");
    if (!s.consuming) {
      return Status::FailedPrecondition(
          s.Where("next delivery") + ": no consumer (" +
          (s.consumer_gone.empty() ? std::string("call Consume first") : s.consumer_gone) + ")");
    }
    amqp_frame_t frame;
    switch (s.WaitFrame(deadline, &frame)) {
      case Impl::Wait::kFrame:
        break;
      case Impl::Wait::kTimeout:
        return std::optional<AmqpDelivery>();
      case Impl::Wait::kBroken:
        return s.Broken("next delivery");
    }
    Status status = s.HandleFrame(frame, "next delivery");
    amqp_maybe_release_buffers(s.conn);
    if (!status.ok()) return status;
  }
}

Status AmqpConnection::Ack(AmqpDeliveryTag tag) {
  return impl_->Settle(tag, "ack",
                       [&] { return amqp_basic_ack(impl_->conn, kChannel, tag.tag, 0); });
}

Status AmqpConnection::Reject(AmqpDeliveryTag tag, bool requeue) {
  return impl_->Settle(tag, "reject", [&] {
    return amqp_basic_nack(impl_->conn, kChannel, tag.tag, 0, requeue ? 1 : 0);
  });
}

Status AmqpConnection::Cancel(const CallOptions& call) {
  Impl& s = *impl_;
  if (!s.consuming) return Status::Ok();
  if (s.broken) return s.Broken("cancel the consumer");
  Status status = s.Rpc(s.Deadline(call), "cancel the consumer",
                        [&] { amqp_basic_cancel(s.conn, kChannel, Bytes(s.consumer_tag)); });
  if (!status.ok()) return status;
  s.consuming = false;
  s.consumer_gone = "cancelled";
  return Status::Ok();
}

StatusOr<AmqpQueueInfo> AmqpConnection::Inspect(const CallOptions& call, std::string_view queue) {
  Impl& s = *impl_;
  const std::string what = "inspect queue '" + std::string(queue) + "'";
  const Clock::time_point deadline = s.Deadline(call);
  if (s.channel_id == 0 && !s.broken) {
    Status reopened = s.OpenChannel(s.FollowUpDeadline(deadline));
    if (!reopened.ok()) return reopened;
  }
  AmqpQueueInfo info;
  Status status = s.Rpc(deadline, what, [&] {
    const amqp_queue_declare_ok_t* ok = amqp_queue_declare(
        s.conn, kChannel, Bytes(queue), /*passive=*/1, 0, 0, 0, amqp_empty_table);
    if (ok != nullptr) {
      info.messages = ok->message_count;
      info.consumers = ok->consumer_count;
    }
  });
  if (!status.ok()) return status;
  return info;
}

}  // namespace vecmesh::adapters
