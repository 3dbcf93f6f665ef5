package bot

import "net/http"

// RejectUnread answers a chat request refused on its headers alone, without
// reading its body: the connection is closed after the answer, so the
// server does not first wait for a body a slow client may never finish.
func RejectUnread(w http.ResponseWriter, msg string, status int) {
	w.Header().Set("Connection", "close")
	http.Error(w, msg, status)
}
