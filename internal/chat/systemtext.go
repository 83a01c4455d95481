package chat

// The languages of system texts (rooms.system_language).
const (
	// LangKorean is the default: the Spring tutorials' own texts.
	LangKorean = "ko"
	// LangEnglish is English.
	LangEnglish = "en"
)

// SystemLanguages lists the languages SystemText knows.
var SystemLanguages = []string{LangKorean, LangEnglish}

// systemTexts holds, per language, the text of each presence message
// kind, given the user.
var systemTexts = map[string]map[MessageType]func(user string) string{
	LangKorean: {
		Enter: func(u string) string { return u + "님이 입장하셨습니다." },
		Leave: func(u string) string { return u + "님이 퇴장하셨습니다." },
	},
	LangEnglish: {
		Enter: func(u string) string { return u + " entered the room." },
		Leave: func(u string) string { return u + " left the room." },
	},
}

// KnownLanguage reports whether lang is one of SystemLanguages.
func KnownLanguage(lang string) bool {
	_, ok := systemTexts[lang]
	return ok
}

// SystemText returns the text the server writes into an ENTER or LEAVE
// message of user whose message is empty, in lang (Korean when lang is
// unknown): "x님이 입장하셨습니다." / "x entered the room.". Other kinds
// have no system text: "".
func SystemText(kind MessageType, user, lang string) string {
	texts, ok := systemTexts[lang]
	if !ok {
		texts = systemTexts[LangKorean]
	}
	if f, ok := texts[kind]; ok {
		return f(user)
	}
	return ""
}
