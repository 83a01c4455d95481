package moderation

import "strings"

// actionTexts holds the announcement of each action, Korean and English,
// given the actor and the user acted on.
var actionTexts = map[Action][2]func(actor, user string) string{
	Kick: {
		func(a, u string) string { return a + "님이 " + u + "님을 내보냈습니다." },
		func(a, u string) string { return u + " was removed from the room by " + a + "." },
	},
	Ban: {
		func(a, u string) string { return a + "님이 " + u + "님을 차단했습니다." },
		func(a, u string) string { return u + " was banned by " + a + "." },
	},
	Unban: {
		func(a, u string) string { return a + "님이 " + u + "님의 차단을 해제했습니다." },
		func(a, u string) string { return u + " was unbanned by " + a + "." },
	},
	Mute: {
		func(a, u string) string { return a + "님이 " + u + "님의 채팅을 금지했습니다." },
		func(a, u string) string { return u + " was muted by " + a + "." },
	},
	Unmute: {
		func(a, u string) string { return a + "님이 " + u + "님의 채팅 금지를 해제했습니다." },
		func(a, u string) string { return u + " was unmuted by " + a + "." },
	},
}

// english reports whether lang asks for English texts (else Korean, the
// server's default language).
func english(lang string) bool { return lang == "en" }

// actionText is the announcement of actor taking action on user.
func actionText(lang string, action Action, actor, user string) string {
	f := actionTexts[action]
	if english(lang) {
		return f[1](actor, user)
	}
	return f[0](actor, user)
}

// moderatorsText is the announcement of a new moderator list.
func moderatorsText(lang, actor string, mods []string) string {
	list := strings.Join(mods, ", ")
	switch {
	case english(lang) && len(mods) == 0:
		return actor + " removed every moderator."
	case english(lang):
		return actor + " made the moderators: " + list + "."
	case len(mods) == 0:
		return actor + "님이 운영자를 모두 해제했습니다."
	}
	return actor + "님이 운영자를 지정했습니다: " + list
}
