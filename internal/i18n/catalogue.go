package i18n

import "strings"

// texts is one message in every supported language. {name} marks a
// value filled in by Text.
type texts struct {
	en, ko string
}

// catalogue holds the texts of /user/queue/errors messages. A key is
// either a code, whose text is the general one for any error with that
// code (a handler's error in a language other than English shows it), or
// code.variant, the exact text of one error the session words itself.
// Every code any package declares (a Code* string constant) must have
// its entry in both languages: TestEveryCodeTranslated checks it.
var catalogue = map[string]texts{
	// router: handler errors
	"bad_request": {
		en: "the request is not valid",
		ko: "요청이 올바르지 않습니다.",
	},
	"not_found": {
		en: "not found",
		ko: "요청한 대상을 찾을 수 없습니다.",
	},
	"not_found.no_handler": {
		en: "no handler for this destination",
		ko: "이 목적지를 처리하는 핸들러가 없습니다.",
	},
	"forbidden": {
		en: "not allowed",
		ko: "허용되지 않는 요청입니다.",
	},
	"forbidden.private_revoked": {
		en: "you are no longer a member of private room {room}; its subscription {subscription} has ended",
		ko: "더 이상 비공개 방 {room}의 멤버가 아니어서 구독 {subscription}이(가) 끝났습니다.",
	},
	"forbidden.kick": {
		en: "{by} removed you from room {room}; its subscription {subscription} has ended (you may subscribe again)",
		ko: "{by}님이 방 {room}에서 내보내 구독 {subscription}이(가) 끝났습니다. 다시 구독할 수 있습니다.",
	},
	"forbidden.ban": {
		en: "{by} banned you from room {room}; its subscription {subscription} has ended",
		ko: "{by}님이 방 {room}에서 차단하여 구독 {subscription}이(가) 끝났습니다.",
	},
	"forbidden.banned": {
		en: "you are banned from room {room}; its subscription {subscription} has ended",
		ko: "방 {room}에서 차단되어 구독 {subscription}이(가) 끝났습니다.",
	},
	"internal": {
		en: "internal error",
		ko: "서버 내부 오류가 발생했습니다.",
	},

	// chat and the REST API: room messages waiting to be stored
	"not_stored": {
		en: "the message was not seen stored; send it again",
		ko: "메시지가 저장되었는지 확인하지 못했습니다. 다시 보내 주세요.",
	},
	"busy": {
		en: "the server has too many messages waiting to be stored; send it again later",
		ko: "서버에 저장을 기다리는 메시지가 너무 많습니다. 잠시 후 다시 보내 주세요.",
	},
	"unavailable": {
		en: "the server is shutting down; send it again",
		ko: "서버가 종료되는 중입니다. 다시 보내 주세요.",
	},

	// chat: Spring-tutorial clients name their sender in the body
	"invalid_sender": {
		en: "sender must be 1 to 64 letters, digits or ._@+~- (no spaces)",
		ko: "sender는 공백 없이 1~64자의 글자, 숫자 또는 ._@+~- 이어야 합니다.",
	},

	// limits
	"rate_limited": {
		en: "too many requests; slow down",
		ko: "요청이 너무 많습니다. 천천히 보내 주세요.",
	},
	"rate_limited.send": {
		en: "SEND dropped: more than {rate} SENDs per second (burst {burst}); slow down",
		ko: "메시지를 보내지 않았습니다: 초당 {rate}회(한 번에 {burst}회)보다 많이 보냈습니다. 천천히 보내 주세요.",
	},
	"rate_limited.subscribe": {
		en: "SUBSCRIBE refused, nothing was subscribed: more than {rate} SUBSCRIBEs per second (burst {burst}); subscribe again later",
		ko: "구독이 거부되어 아무것도 구독되지 않았습니다: 초당 {rate}회(한 번에 {burst}회)보다 많이 구독했습니다. 잠시 후 다시 구독해 주세요.",
	},
	"quota_exceeded": {
		en: "quota exceeded",
		ko: "허용된 한도를 넘었습니다.",
	},
	"reply_too_large": {
		en: "the answer is too large to send",
		ko: "응답이 너무 커서 보낼 수 없습니다.",
	},
	"reply_too_large.limit": {
		en: "the answer is {bytes} bytes, more than the {limit} one reply may take; ask for less (a smaller limit header)",
		ko: "응답이 {bytes}바이트로, 응답 하나의 한도인 {limit}바이트를 넘습니다. 더 적게 요청해 주세요(limit 헤더를 더 작게).",
	},
	"reply_too_large.queue": {
		en: "the answer ({bytes} bytes) does not fit in this connection's send queue now: read what is queued, then subscribe again",
		ko: "응답({bytes}바이트)이 지금 이 연결의 전송 대기열에 들어가지 않습니다. 대기 중인 메시지를 먼저 받은 뒤 다시 구독해 주세요.",
	},

	// subscriptions
	"subscribe_refused": {
		en: "SUBSCRIBE refused, nothing was subscribed",
		ko: "구독이 거부되어 아무것도 구독되지 않았습니다.",
	},
	"subscribe_refused.broker": {
		en: "SUBSCRIBE refused, nothing was subscribed: {reason}",
		ko: "브로커가 구독을 거부하여 아무것도 구독되지 않았습니다: {reason}",
	},
	"subscription_ended": {
		en: "the subscription has ended: the broker cancelled it, as it does when the queue under it is deleted",
		ko: "구독이 끝났습니다: 브로커가 구독을 취소했습니다(구독하던 큐가 삭제되면 이렇게 됩니다).",
	},
	"subscription_ended.room_deleted": {
		en: "room {room} was deleted; the subscription has ended",
		ko: "{room} 방이 삭제되어 구독이 끝났습니다.",
	},
	"subscription_ended.refollow": {
		en: "room {room} could not be followed again within {timeout} (its messages could not be read from the broker); the subscription has ended: subscribe again with x-resume-after:{offset} to go on with no gap",
		ko: "{room} 방을 {timeout} 안에 다시 따라가지 못해(브로커에서 방의 메시지를 읽지 못했습니다) 구독이 끝났습니다. 빠진 메시지 없이 이어 받으려면 x-resume-after:{offset} 헤더로 다시 구독해 주세요.",
	},
	"room_unavailable": {
		en: "SUBSCRIBE failed, nothing was subscribed: room {room} is not available on this server right now (its messages could not be read from the broker in time; it may be restarting); subscribe again later",
		ko: "구독에 실패하여 아무것도 구독되지 않았습니다: 지금 이 서버에서 {room} 방을 쓸 수 없습니다(브로커에서 방의 메시지를 제때 읽지 못했습니다. 브로커가 재시작 중일 수 있습니다). 잠시 후 다시 구독해 주세요.",
	},
}

// Text returns the text of key in l with its {name} values filled in from
// args, given as name, value pairs. A language without the text falls
// back to English; a key without any text returns "".
func Text(l Lang, key string, args ...string) string {
	t, ok := catalogue[key]
	if !ok {
		return ""
	}
	s := t.en
	if l == Ko && t.ko != "" {
		s = t.ko
	}
	if len(args) == 0 {
		return s
	}
	pairs := make([]string, 0, len(args))
	for i := 0; i+1 < len(args); i += 2 {
		pairs = append(pairs, "{"+args[i]+"}", args[i+1])
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

// Has reports whether key has a non-empty text in l.
func Has(l Lang, key string) bool {
	t := catalogue[key]
	switch l {
	case En:
		return t.en != ""
	case Ko:
		return t.ko != ""
	}
	return false
}

// Keys returns every key of the catalogue, in no particular order.
func Keys() []string {
	keys := make([]string, 0, len(catalogue))
	for k := range catalogue {
		keys = append(keys, k)
	}
	return keys
}
