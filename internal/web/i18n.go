package web

import (
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"github.com/rollcall/rollcall/internal/locale"
	"github.com/rollcall/rollcall/internal/password"
	"github.com/rollcall/rollcall/internal/username"
)

// The pages speak each shipped locale (locale.Shipped). A page speaks its
// person's locale, else what the browser asks for (Accept-Language), else
// the organisation's default, else English: each matched against the
// shipped locales with x/text's matcher, so de-AT reads German and a
// language Rollcall does not ship gives way to the next choice.

// texts are the visible strings of the pages in one locale. A string with
// {0}, {1}… is filled by fill, which escapes the values; the strings
// themselves are ours and may hold markup.
type texts struct {
	Lang string // the shipped locale, for <html lang>

	// The accept form: JoinTitle {0} organisation; InvitedNamed {0} first
	// name, {1} organisation, {2} address; Invited the same without a name;
	// PasswordHint {0} the shortest password.
	JoinTitle, InvitedNamed, Invited                 string
	FirstName, LastName, Username, Optional          string
	UsernameHint, Password, PasswordHint, CreateUser string
	// After accepting: SignInEmail {0} address; SignInEmailOrUsername {0}
	// address, {1} username; SignInAt {0} organisation.
	AccountReady, SignInEmail, SignInEmailOrUsername, SignInAt, CanClose string
	// The reset form, and after it: SignInAsNew {0} address.
	ChooseNew, ChooseNewIntro, NewPassword, SetNewPassword, PasswordChanged, SignInAsNew string
	// Pages with a heading and a sentence.
	CrossSiteTitle, CrossSiteText, TooLargeTitle, TooLargeText, UnreadableTitle, UnreadableText string
	WrongTitle, WrongText, InvalidTitle, ExpiredTitle, TooManyTitle, DidNotWorkTitle            string
	AcceptInvalid, AcceptExpired, ResetInvalid, ResetExpired                                    string
	// Messages of the services a person may see on a form, by the English
	// message (see serviceMessages), in the same order.
	messages []string
}

// serviceMessages are the English messages of the services that the pages
// show and translate, in the order of texts.messages. A message not listed
// is shown as the service wrote it.
func serviceMessages() []string {
	return []string{
		fmt.Sprintf("password must be at least %d characters long", password.MinLength),
		fmt.Sprintf("password must be at most %d bytes long", password.MaxBytes),
		"password must not be your email address",
		"password must not be the first part of your email address",
		"password must not be your username",
		"password is too common; choose a less predictable one",
		username.Rule,
		"that username is taken",
		"too many attempts; try again later",
	}
}

const nbsp = "\u00a0" // before French double punctuation

// pageTexts returns the texts of every shipped locale, by locale.
func pageTexts() map[string]*texts {
	min, max := strconv.Itoa(password.MinLength), strconv.Itoa(password.MaxBytes)
	return map[string]*texts{
		"en": {
			Lang:      "en",
			JoinTitle: "Join {0}", InvitedNamed: "Hi {0}, you have been invited to {1} as <strong>{2}</strong>. Choose a password to set up your account.",
			Invited:   "You have been invited to {1} as <strong>{2}</strong>. Choose a password to set up your account.",
			FirstName: "First name", LastName: "Last name", Username: "Username", Optional: "(optional)",
			UsernameHint: "You can always sign in with your email address.", Password: "Password",
			PasswordHint: "At least {0} characters.", CreateUser: "Create my account",
			AccountReady:          "Your account is ready",
			SignInEmail:           "Sign in with your email address <strong>{0}</strong> and the password you just chose.",
			SignInEmailOrUsername: "Sign in with your email address <strong>{0}</strong> or your username <strong>{1}</strong> and the password you just chose.",
			SignInAt:              "Sign in to {0}", CanClose: "You can close this page.",
			ChooseNew: "Choose a new password", ChooseNewIntro: "Your new password replaces the old one and signs you out everywhere else.",
			NewPassword: "New password", SetNewPassword: "Set new password", PasswordChanged: "Your password has been changed",
			SignInAsNew:    "Sign in as <strong>{0}</strong> with your new password. You have been signed out everywhere else.",
			CrossSiteTitle: "This form came from another site",
			CrossSiteText:  "For your safety it was not accepted. Open the link in your email again and fill in the form there.",
			TooLargeTitle:  "The form is too large", TooLargeText: "Go back and send it again with shorter values.",
			UnreadableTitle: "The form could not be read", UnreadableText: "Open the link in your email again and fill in the form there.",
			WrongTitle: "Something went wrong", WrongText: "Please try again in a few minutes.",
			InvalidTitle: "This link is not valid", ExpiredTitle: "This link has expired", TooManyTitle: "Too many attempts",
			DidNotWorkTitle: "This did not work",
			AcceptInvalid:   "It was already used, replaced by a newer invitation, or cancelled. If you have accepted it already, sign in with your email or username; otherwise ask for a new invitation.",
			AcceptExpired:   "Ask for a new invitation: whoever invited you can send a fresh link.",
			ResetInvalid:    "It was already used, replaced by a newer one, or cancelled. Request a new password reset if you still need one.",
			ResetExpired:    "Request a new password reset to get a fresh link.",
			messages:        serviceMessages(),
		},
		"de": {
			Lang:      "de",
			JoinTitle: "Einladung zu {0}", InvitedNamed: "Hallo {0}, Sie wurden mit der Adresse <strong>{2}</strong> zu {1} eingeladen. Wählen Sie ein Passwort, um Ihr Konto einzurichten.",
			Invited:   "Sie wurden mit der Adresse <strong>{2}</strong> zu {1} eingeladen. Wählen Sie ein Passwort, um Ihr Konto einzurichten.",
			FirstName: "Vorname", LastName: "Nachname", Username: "Benutzername", Optional: "(optional)",
			UsernameHint: "Sie können sich jederzeit auch mit Ihrer E-Mail-Adresse anmelden.", Password: "Passwort",
			PasswordHint: "Mindestens {0} Zeichen.", CreateUser: "Konto erstellen",
			AccountReady:          "Ihr Konto ist eingerichtet",
			SignInEmail:           "Melden Sie sich mit Ihrer E-Mail-Adresse <strong>{0}</strong> und dem soeben gewählten Passwort an.",
			SignInEmailOrUsername: "Melden Sie sich mit Ihrer E-Mail-Adresse <strong>{0}</strong> oder Ihrem Benutzernamen <strong>{1}</strong> und dem soeben gewählten Passwort an.",
			SignInAt:              "Bei {0} anmelden", CanClose: "Sie können diese Seite jetzt schließen.",
			ChooseNew: "Neues Passwort wählen", ChooseNewIntro: "Ihr neues Passwort ersetzt das bisherige; auf allen anderen Geräten werden Sie abgemeldet.",
			NewPassword: "Neues Passwort", SetNewPassword: "Passwort speichern", PasswordChanged: "Ihr Passwort wurde geändert",
			SignInAsNew:    "Melden Sie sich als <strong>{0}</strong> mit Ihrem neuen Passwort an. Auf allen anderen Geräten wurden Sie abgemeldet.",
			CrossSiteTitle: "Dieses Formular kam von einer anderen Website",
			CrossSiteText:  "Zu Ihrer Sicherheit wurde es nicht angenommen. Öffnen Sie den Link aus Ihrer E-Mail erneut und füllen Sie das Formular dort aus.",
			TooLargeTitle:  "Das Formular ist zu groß", TooLargeText: "Gehen Sie zurück und senden Sie es mit kürzeren Angaben erneut.",
			UnreadableTitle: "Das Formular konnte nicht gelesen werden", UnreadableText: "Öffnen Sie den Link aus Ihrer E-Mail erneut und füllen Sie das Formular dort aus.",
			WrongTitle: "Etwas ist schiefgelaufen", WrongText: "Bitte versuchen Sie es in ein paar Minuten noch einmal.",
			InvalidTitle: "Dieser Link ist ungültig", ExpiredTitle: "Dieser Link ist abgelaufen", TooManyTitle: "Zu viele Versuche",
			DidNotWorkTitle: "Das hat nicht geklappt",
			AcceptInvalid:   "Er wurde bereits verwendet, durch eine neuere Einladung ersetzt oder zurückgezogen. Falls Sie die Einladung schon angenommen haben, melden Sie sich mit Ihrer E-Mail-Adresse oder Ihrem Benutzernamen an; andernfalls bitten Sie um eine neue Einladung.",
			AcceptExpired:   "Bitten Sie um eine neue Einladung: Wer Sie eingeladen hat, kann Ihnen einen neuen Link schicken.",
			ResetInvalid:    "Er wurde bereits verwendet, durch einen neueren ersetzt oder zurückgezogen. Fordern Sie bei Bedarf erneut das Zurücksetzen Ihres Passworts an.",
			ResetExpired:    "Fordern Sie erneut das Zurücksetzen Ihres Passworts an, um einen neuen Link zu erhalten.",
			messages: []string{
				"Das Passwort muss mindestens " + min + " Zeichen lang sein",
				"Das Passwort darf höchstens " + max + " Byte lang sein",
				"Das Passwort darf nicht Ihre E-Mail-Adresse sein",
				"Das Passwort darf nicht der vordere Teil Ihrer E-Mail-Adresse sein",
				"Das Passwort darf nicht Ihr Benutzername sein",
				"Dieses Passwort ist zu verbreitet; wählen Sie ein weniger leicht zu erratendes",
				"Ein Benutzername besteht aus 2 bis 64 Buchstaben, Ziffern, Punkten, Binde- oder Unterstrichen",
				"Dieser Benutzername ist bereits vergeben",
				"Zu viele Versuche; bitte versuchen Sie es später noch einmal",
			},
		},
		"fr": {
			Lang:      "fr",
			JoinTitle: "Rejoindre {0}", InvitedNamed: "Bonjour {0}, vous avez reçu une invitation à rejoindre {1} à l’adresse <strong>{2}</strong>. Choisissez un mot de passe pour créer votre compte.",
			Invited:   "Vous avez reçu une invitation à rejoindre {1} à l’adresse <strong>{2}</strong>. Choisissez un mot de passe pour créer votre compte.",
			FirstName: "Prénom", LastName: "Nom", Username: "Nom d’utilisateur", Optional: "(facultatif)",
			UsernameHint: "Vous pourrez toujours vous connecter avec votre adresse e-mail.", Password: "Mot de passe",
			PasswordHint: "Au moins {0} caractères.", CreateUser: "Créer mon compte",
			AccountReady:          "Votre compte est prêt",
			SignInEmail:           "Connectez-vous avec votre adresse e-mail <strong>{0}</strong> et le mot de passe que vous venez de choisir.",
			SignInEmailOrUsername: "Connectez-vous avec votre adresse e-mail <strong>{0}</strong> ou votre nom d’utilisateur <strong>{1}</strong> et le mot de passe que vous venez de choisir.",
			SignInAt:              "Se connecter à {0}", CanClose: "Vous pouvez fermer cette page.",
			ChooseNew: "Choisissez un nouveau mot de passe", ChooseNewIntro: "Votre nouveau mot de passe remplace l’ancien et ferme toutes vos autres sessions.",
			NewPassword: "Nouveau mot de passe", SetNewPassword: "Enregistrer le mot de passe", PasswordChanged: "Votre mot de passe a été modifié",
			SignInAsNew:    "Connectez-vous en tant que <strong>{0}</strong> avec votre nouveau mot de passe. Toutes vos autres sessions ont été fermées.",
			CrossSiteTitle: "Ce formulaire provient d’un autre site",
			CrossSiteText:  "Par sécurité, il n’a pas été accepté. Rouvrez le lien reçu par e-mail et remplissez le formulaire depuis cette page.",
			TooLargeTitle:  "Le formulaire est trop volumineux", TooLargeText: "Revenez en arrière et renvoyez-le avec des valeurs plus courtes.",
			UnreadableTitle: "Le formulaire n’a pas pu être lu", UnreadableText: "Rouvrez le lien reçu par e-mail et remplissez le formulaire depuis cette page.",
			WrongTitle: "Une erreur s’est produite", WrongText: "Veuillez réessayer dans quelques minutes.",
			InvalidTitle: "Ce lien n’est pas valide", ExpiredTitle: "Ce lien a expiré", TooManyTitle: "Trop de tentatives",
			DidNotWorkTitle: "Cela n’a pas fonctionné",
			AcceptInvalid:   "Il a déjà été utilisé, remplacé par une invitation plus récente ou annulé. Si vous avez déjà accepté l’invitation, connectez-vous avec votre adresse e-mail ou votre nom d’utilisateur" + nbsp + "; sinon, demandez une nouvelle invitation.",
			AcceptExpired:   "Demandez une nouvelle invitation" + nbsp + ": la personne à l’origine de l’invitation peut vous envoyer un nouveau lien.",
			ResetInvalid:    "Il a déjà été utilisé, remplacé par un lien plus récent ou annulé. Si besoin, demandez une nouvelle réinitialisation du mot de passe.",
			ResetExpired:    "Demandez une nouvelle réinitialisation du mot de passe pour recevoir un nouveau lien.",
			messages: []string{
				"Le mot de passe doit comporter au moins " + min + " caractères",
				"Le mot de passe doit comporter au plus " + max + " octets",
				"Le mot de passe ne doit pas être votre adresse e-mail",
				"Le mot de passe ne doit pas être la première partie de votre adresse e-mail",
				"Le mot de passe ne doit pas être votre nom d’utilisateur",
				"Ce mot de passe est trop courant" + nbsp + "; choisissez-en un moins prévisible",
				"Un nom d’utilisateur comporte de 2 à 64 lettres, chiffres, points, tirets ou tirets bas",
				"Ce nom d’utilisateur est déjà pris",
				"Trop de tentatives" + nbsp + "; veuillez réessayer plus tard",
			},
		},
		"es": {
			Lang:      "es",
			JoinTitle: "Únase a {0}", InvitedNamed: "Hola, {0}. Ha recibido una invitación para unirse a {1} con la dirección <strong>{2}</strong>. Elija una contraseña para configurar su cuenta.",
			Invited:   "Ha recibido una invitación para unirse a {1} con la dirección <strong>{2}</strong>. Elija una contraseña para configurar su cuenta.",
			FirstName: "Nombre", LastName: "Apellidos", Username: "Nombre de usuario", Optional: "(opcional)",
			UsernameHint: "Siempre podrá iniciar sesión con su dirección de correo.", Password: "Contraseña",
			PasswordHint: "Al menos {0} caracteres.", CreateUser: "Crear mi cuenta",
			AccountReady:          "Su cuenta está lista",
			SignInEmail:           "Inicie sesión con su dirección de correo <strong>{0}</strong> y la contraseña que acaba de elegir.",
			SignInEmailOrUsername: "Inicie sesión con su dirección de correo <strong>{0}</strong> o su nombre de usuario <strong>{1}</strong> y la contraseña que acaba de elegir.",
			SignInAt:              "Iniciar sesión en {0}", CanClose: "Ya puede cerrar esta página.",
			ChooseNew: "Elija una nueva contraseña", ChooseNewIntro: "Su nueva contraseña sustituye a la anterior y cierra todas sus demás sesiones.",
			NewPassword: "Nueva contraseña", SetNewPassword: "Guardar la contraseña", PasswordChanged: "Se ha cambiado su contraseña",
			SignInAsNew:    "Inicie sesión como <strong>{0}</strong> con su nueva contraseña. Se han cerrado todas sus demás sesiones.",
			CrossSiteTitle: "Este formulario procede de otro sitio",
			CrossSiteText:  "Por su seguridad, no se ha aceptado. Vuelva a abrir el enlace de su correo y rellene el formulario allí.",
			TooLargeTitle:  "El formulario es demasiado grande", TooLargeText: "Vuelva atrás y envíelo de nuevo con valores más cortos.",
			UnreadableTitle: "No se ha podido leer el formulario", UnreadableText: "Vuelva a abrir el enlace de su correo y rellene el formulario allí.",
			WrongTitle: "Algo ha salido mal", WrongText: "Vuelva a intentarlo dentro de unos minutos.",
			InvalidTitle: "Este enlace no es válido", ExpiredTitle: "Este enlace ha caducado", TooManyTitle: "Demasiados intentos",
			DidNotWorkTitle: "No ha sido posible",
			AcceptInvalid:   "Ya se ha utilizado, se ha sustituido por una invitación más reciente o se ha cancelado. Si ya aceptó la invitación, inicie sesión con su dirección de correo o su nombre de usuario; si no, pida una nueva invitación.",
			AcceptExpired:   "Pida una nueva invitación: quien le invitó puede enviarle un enlace nuevo.",
			ResetInvalid:    "Ya se ha utilizado, se ha sustituido por uno más reciente o se ha cancelado. Si aún lo necesita, vuelva a solicitar el restablecimiento de la contraseña.",
			ResetExpired:    "Vuelva a solicitar el restablecimiento de la contraseña para recibir un enlace nuevo.",
			messages: []string{
				"La contraseña debe tener al menos " + min + " caracteres",
				"La contraseña debe tener como máximo " + max + " bytes",
				"La contraseña no puede ser su dirección de correo",
				"La contraseña no puede ser la primera parte de su dirección de correo",
				"La contraseña no puede ser su nombre de usuario",
				"Esta contraseña es demasiado común; elija una menos previsible",
				"Un nombre de usuario tiene de 2 a 64 letras, cifras, puntos, guiones o guiones bajos",
				"Ese nombre de usuario ya está en uso",
				"Demasiados intentos; vuelva a intentarlo más tarde",
			},
		},
	}
}

// speaker chooses the texts a page speaks.
type speaker struct {
	texts map[string]*texts
	known []string // serviceMessages
}

func newSpeaker() *speaker { return &speaker{texts: pageTexts(), known: serviceMessages()} }

// choose returns the texts for a page shown to a person whose locale is
// person (may be ""), in an organisation whose default is orgDefault (""
// when not known, as for a dead link): person's, else the browser's
// Accept-Language, else orgDefault's, else English.
func (sp *speaker) choose(r *http.Request, person, orgDefault string) *texts {
	m := locale.ShippedMatcher()
	if loc, ok := m.Match(person); ok {
		return sp.texts[loc]
	}
	for _, h := range r.Header.Values("Accept-Language") {
		if loc, ok := m.AcceptLanguage(h); ok {
			return sp.texts[loc]
		}
	}
	if loc, ok := m.Match(orgDefault); ok {
		return sp.texts[loc]
	}
	return sp.texts[locale.Default]
}

// message returns a service's message in t's language when it is one the
// pages translate, else as the service wrote it; capitalised either way.
func (sp *speaker) message(t *texts, msg string) string {
	for i, k := range sp.known {
		if k == msg && i < len(t.messages) {
			return sentence(t.messages[i])
		}
	}
	return sentence(msg)
}

// fill replaces {0}, {1}… in s (one of our texts, trusted) with the values,
// escaped for HTML, for a page's body.
func fill(s string, values ...any) template.HTML {
	for i, v := range values {
		s = strings.ReplaceAll(s, "{"+strconv.Itoa(i)+"}", template.HTMLEscapeString(fmt.Sprint(v)))
	}
	return template.HTML(s) //nolint:gosec // s is ours; the values are escaped
}

// format replaces {0}, {1}… in s with the values as they are, for text the
// page template escapes itself (a title).
func format(s string, values ...string) string {
	for i, v := range values {
		s = strings.ReplaceAll(s, "{"+strconv.Itoa(i)+"}", v)
	}
	return s
}
