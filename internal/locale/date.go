package locale

import (
	"fmt"
	"time"
)

// calendar holds how one shipped locale writes dates and durations. x/text
// has no date formatting, so these are written here, as each language
// writes a date in a formal letter.
type calendar struct {
	months   [12]string // January first
	weekdays [7]string  // Sunday first, as time.Weekday
	// date writes a day: weekday, day of month, month, year, hour, minute.
	date func(c *calendar, t time.Time) string
	// units are the singular and plural of day, hour, minute and second.
	units [4][2]string
}

var calendars = map[string]*calendar{
	"en": {
		months:   [12]string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
		weekdays: [7]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"},
		// Monday 9 March 2026, 09:00 UTC
		date: func(c *calendar, t time.Time) string {
			return fmt.Sprintf("%s %d %s %d, %02d:%02d UTC", c.weekdays[t.Weekday()], t.Day(), c.months[t.Month()-1], t.Year(), t.Hour(), t.Minute())
		},
		units: [4][2]string{{"day", "days"}, {"hour", "hours"}, {"minute", "minutes"}, {"second", "seconds"}},
	},
	"de": {
		months:   [12]string{"Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober", "November", "Dezember"},
		weekdays: [7]string{"Sonntag", "Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag"},
		// Montag, 9. März 2026, 09:00 Uhr UTC
		date: func(c *calendar, t time.Time) string {
			return fmt.Sprintf("%s, %d. %s %d, %02d:%02d Uhr UTC", c.weekdays[t.Weekday()], t.Day(), c.months[t.Month()-1], t.Year(), t.Hour(), t.Minute())
		},
		units: [4][2]string{{"Tag", "Tage"}, {"Stunde", "Stunden"}, {"Minute", "Minuten"}, {"Sekunde", "Sekunden"}},
	},
	"fr": {
		months:   [12]string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"},
		weekdays: [7]string{"dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi"},
		// lundi 9 mars 2026 à 09:00 UTC; the first of the month is "1er".
		date: func(c *calendar, t time.Time) string {
			day := fmt.Sprint(t.Day())
			if t.Day() == 1 {
				day = "1er"
			}
			return fmt.Sprintf("%s %s %s %d à %02d:%02d UTC", c.weekdays[t.Weekday()], day, c.months[t.Month()-1], t.Year(), t.Hour(), t.Minute())
		},
		units: [4][2]string{{"jour", "jours"}, {"heure", "heures"}, {"minute", "minutes"}, {"seconde", "secondes"}},
	},
	"es": {
		months:   [12]string{"enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre"},
		weekdays: [7]string{"domingo", "lunes", "martes", "miércoles", "jueves", "viernes", "sábado"},
		// lunes, 9 de marzo de 2026, a las 09:00 UTC; one o'clock is "a la 01:00".
		date: func(c *calendar, t time.Time) string {
			at := "a las"
			if t.Hour() == 1 {
				at = "a la"
			}
			return fmt.Sprintf("%s, %d de %s de %d, %s %02d:%02d UTC", c.weekdays[t.Weekday()], t.Day(), c.months[t.Month()-1], t.Year(), at, t.Hour(), t.Minute())
		},
		units: [4][2]string{{"día", "días"}, {"hora", "horas"}, {"minuto", "minutos"}, {"segundo", "segundos"}},
	},
}

// calendarOf returns the calendar of loc's shipped match, else English.
func calendarOf(loc string) *calendar {
	if c, ok := calendars[Pick(loc, "")]; ok {
		return c
	}
	return calendars[Default]
}

// Date writes t, in UTC, as loc writes a date and time in a letter:
// "Monday 9 March 2026, 09:00 UTC", "Montag, 9. März 2026, 09:00 Uhr UTC",
// "lundi 9 mars 2026 à 09:00 UTC", "lunes, 9 de marzo de 2026, a las 09:00
// UTC". A locale Rollcall does not ship is written as its shipped match
// (de-CH as de), else in English.
func Date(loc string, t time.Time) string {
	c := calendarOf(loc)
	return c.date(c, t.UTC())
}

// Duration writes d as loc would in an email, in its largest whole unit:
// "7 days", "7 Tage", "7 jours", "7 días"; "1 hour", "90 minutes". Locales
// are matched as in Date.
func Duration(loc string, d time.Duration) string {
	c := calendarOf(loc)
	unit := func(n int64, u int) string {
		if n == 1 {
			return "1 " + c.units[u][0]
		}
		return fmt.Sprintf("%d %s", n, c.units[u][1])
	}
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return unit(int64(d/(24*time.Hour)), 0)
	case d >= time.Hour && d%time.Hour == 0:
		return unit(int64(d/time.Hour), 1)
	case d >= time.Minute:
		return unit(int64(d/time.Minute), 2)
	default:
		return unit(int64(max(d/time.Second, 1)), 3)
	}
}
