//! The UI's languages: German first (the texts in the templates are German), English available.
//! Templates write `{{ t("Übersicht") }}`; in English the dictionary below gives the text, and
//! a text missing from it stays German (a test checks that every text of every template is in
//! it). State codes (`sent`, `pending`, …) are shown with `label(code)`.

/// German text → English.
const EN: &[(&str, &str)] = &[
    ("Übersicht", "Overview"),
    (
        "Diese Absage gibt es nicht.",
        "There is no such cancellation.",
    ),
    (
        "Dieser Termin gehört nicht zu dieser Absage.",
        "This appointment does not belong to this cancellation.",
    ),
    ("Diesen Import gibt es nicht.", "There is no such import."),
    (
        "Das hat nicht geklappt: absage oder seine Datenbank hatte einen Fehler. Die Ursache steht im Protokoll des Servers. Bitte versuchen Sie es gleich noch einmal.",
        "That did not work: absage or its database failed. The cause is in the server's log. Please try again in a moment.",
    ),
    ("Termine absagen", "Cancel appointments"),
    ("Freigaben", "Approvals"),
    ("Importe", "Imports"),
    ("Protokoll", "Audit log"),
    ("Abmelden", "Sign out"),
    ("Anmelden", "Sign in"),
    ("Name", "Name"),
    ("Passwort", "Password"),
    ("Laufende Absagen", "Running cancellations"),
    ("Keine laufende Absage.", "No cancellation is running."),
    (
        "Absage(n) warten auf Freigabe",
        "cancellation(s) wait for approval",
    ),
    ("Nr.", "No."),
    ("Zeitraum", "Window"),
    ("Grund", "Reason"),
    ("informiert", "informed"),
    ("noch ohne Nachweis", "no evidence yet"),
    ("seit", "since"),
    (
        "Wann die Nachrichten hinausgehen (Schätzung)",
        "When the messages leave (estimate)",
    ),
    ("davor in der Warteschlange", "waiting ahead"),
    ("pro Sekunde", "per second"),
    ("letzte etwa", "last about"),
    (
        "nichts: alle Server des Kanals sind ausgefallen",
        "none: every server of the channel is down",
    ),
    (
        "angenommen: keine Begrenzung, noch nichts gemessen",
        "assumed: no rate limit, nothing measured yet",
    ),
    ("gemessen", "measured"),
    (
        "Diesen Termin gibt es in dieser Absage nicht.",
        "This appointment is not part of this cancellation.",
    ),
    (
        "Auf der Anrufliste seit der Absage",
        "On the call list since the cancellation",
    ),
    (
        "Diese Adresse wird nicht mehr angeschrieben",
        "This address is no longer mailed",
    ),
    ("Verlauf", "History"),
    ("Was", "What"),
    ("Noch nichts gesendet.", "Nothing sent yet."),
    ("Noch anzurufen", "Still to call"),
    ("nur noch nicht angerufene", "only those not yet called"),
    ("Anzeigen", "Show"),
    ("Seite", "Page"),
    ("zurück", "back"),
    ("weiter", "next"),
    ("alle", "all"),
    (
        "Termine: Nachricht käme zu spät – kommen beim Absagen sofort auf die Anrufliste",
        "appointments: the message would come too late – on the call list at once when declared",
    ),
    (
        "Termin findet doch statt – bitte Bescheid geben",
        "the appointment takes place after all – please tell them",
    ),
    ("nicht erreicht", "not reached"),
    (
        "nicht informiert, Termin in 24 h",
        "not informed, appointment within 24 h",
    ),
    ("anrufen", "to phone"),
    ("Warteschlange", "Queue"),
    ("Kanal", "Channel"),
    ("Stand", "State"),
    ("Anzahl", "Count"),
    ("Versandwege", "Relays and gateways"),
    ("Zustand", "Health"),
    ("letzter Fehler", "last error"),
    ("Terminexporte", "Calendar exports"),
    ("Quelle", "Source"),
    ("letzter Import", "last import"),
    ("Ergebnis", "Outcome"),
    ("noch nie", "never"),
    ("vor", "ago:"),
    ("veraltet!", "stale!"),
    ("Absage", "Cancellation"),
    ("erklärt von", "declared by"),
    ("Anrufliste", "Call list"),
    (
        "Nachrichten je Kanal und Stand",
        "Messages per channel and state",
    ),
    ("Termin", "Booking"),
    ("Beginn", "Start"),
    ("Leistung", "Service"),
    ("Ort", "Location"),
    ("E-Mail", "Email"),
    ("SMS", "SMS"),
    ("Zustellung", "Delivery"),
    ("erreicht", "reached"),
    ("nicht mehr betroffen", "no longer affected"),
    ("Anrufliste zur Absage", "Call list of cancellation"),
    (
        "Bürgerinnen und Bürger waren auf keinem Weg erreichbar. Nach Terminbeginn sortiert.",
        "citizens could not be reached on any channel. Sorted by appointment time.",
    ),
    ("Drucken", "Print"),
    ("Telefon", "Phone"),
    ("Leistung / Ort", "Service / location"),
    ("angerufen", "called"),
    ("keine Nummer", "no number"),
    (
        "Freigaben (Vier-Augen-Prinzip)",
        "Approvals (four-eyes rule)",
    ),
    ("Nichts wartet auf Freigabe.", "Nothing waits for approval."),
    ("Art", "Kind"),
    ("betroffen", "affected"),
    ("beantragt von", "requested by"),
    ("Freigeben", "Approve"),
    ("Ablehnen", "Reject"),
    (
        "wartet auf eine andere Person mit Freigaberecht",
        "waits for another person with the approver role",
    ),
    ("Von", "From"),
    ("Bis (ausschließlich)", "To (exclusive)"),
    (
        "Grund (so lesen es die Bürgerinnen und Bürger)",
        "Reason (as citizens will read it)",
    ),
    ("Vorschau", "Preview"),
    ("Absagen", "Cancel"),
    ("Termine betroffen", "appointments affected"),
    ("Nachrichten", "messages"),
    ("ohne Kontakt (Anrufliste)", "without contact (call list)"),
    ("Sprache", "Language"),
    ("Beispiel", "Sample"),
    (
        "Importe der Terminexporte",
        "Imports of the calendar exports",
    ),
    ("Datei", "File"),
    ("Dauer", "Duration"),
    ("gelesen", "read"),
    ("neu", "new"),
    ("geändert", "updated"),
    ("unverändert", "unchanged"),
    ("entfernt", "removed"),
    ("abgelehnt", "rejected"),
    ("Import", "Import"),
    ("abgelehnte Zeilen", "rejected rows"),
    ("hier die ersten", "the first"),
    ("Stelle", "Position"),
    ("Feld", "Field"),
    ("Protokoll (wer hat was getan)", "Audit log (who did what)"),
    ("Zeit", "Time"),
    ("Person", "Person"),
    ("Aktion", "Action"),
    ("Gegenstand", "Subject"),
    ("Einzelheiten", "Details"),
    ("Sprache wählen", "Choose language"),
    (
        "Nachrichten seit der Absage, im Zeitverlauf",
        "Messages since the declaration, over time",
    ),
    ("Bis zum ersten Versand", "Until the first message left"),
    ("Gescheiterte erneut senden", "Send the failed ones again"),
    ("Absage widerrufen", "Retract this cancellation"),
    (
        "Widerrufen: Wer schon informiert ist, erfährt, dass der Termin bleibt.",
        "Retract: everyone already told hears that the appointment stands.",
    ),
    ("Widerrufen", "Retract"),
    ("Vorschau, jetzt berechnet", "Preview, computed now"),
    (
        "Name oder Passwort stimmen nicht.",
        "Name or password is wrong.",
    ),
    (
        "Zu viele Versuche. Bitte warten Sie eine Minute.",
        "Too many attempts. Please wait a minute.",
    ),
    (
        "Die Anmeldung ist gerade nicht möglich.",
        "Signing in is not possible right now.",
    ),
    ("Kodierung", "Encoding"),
    ("Teile", "Parts"),
    ("davon Kurzfassung", "of them short"),
    ("Kosten", "Cost"),
    (
        "SMS auch in der Kurzfassung zu lang, nicht gesendet (E-Mail und Anrufliste gelten weiter)",
        "SMS too long even in the short form, not sent (email and call list still apply)",
    ),
    (
        "Alle gebuchten Termine im Zeitraum (und, wenn gewählt, nur für diese Leistungen und Orte) werden abgesagt. Zuerst sehen Sie, wen es betrifft; erst „Absagen“ verschickt etwas.",
        "Every booked appointment in the window (and, if chosen, only for these services and locations) is cancelled. First you see whom it affects; only “Cancel” sends anything.",
    ),
    (
        "Leistungen (in Klammern: kommende Termine)",
        "Services (in brackets: upcoming bookings)",
    ),
    (
        "Orte (in Klammern: kommende Termine)",
        "Locations (in brackets: upcoming bookings)",
    ),
    ("alle Leistungen", "all services"),
    ("alle Orte", "all locations"),
    ("nur die angekreuzten:", "only those ticked:"),
    (
        "Der Kalender hat keine kommenden Termine.",
        "The calendar has no upcoming bookings.",
    ),
    (
        "Bei den Leistungen ist „alle“ gewählt, aber einzelne sind angekreuzt. Bitte wählen Sie „nur die angekreuzten“ oder entfernen Sie die Häkchen.",
        "Services: “all” is chosen, but some are ticked. Please choose “only those ticked” or remove the ticks.",
    ),
    (
        "Bei den Leistungen ist „nur die angekreuzten“ gewählt, aber keine angekreuzt.",
        "Services: “only those ticked” is chosen, but none is ticked.",
    ),
    (
        "Bei den Orten ist „alle“ gewählt, aber einzelne sind angekreuzt. Bitte wählen Sie „nur die angekreuzten“ oder entfernen Sie die Häkchen.",
        "Locations: “all” is chosen, but some are ticked. Please choose “only those ticked” or remove the ticks.",
    ),
    (
        "Bei den Orten ist „nur die angekreuzten“ gewählt, aber keiner angekreuzt.",
        "Locations: “only those ticked” is chosen, but none is ticked.",
    ),
    (
        "Betroffene Leistungen und Orte",
        "Services and locations affected",
    ),
    ("mit Nachricht", "with a message"),
    ("ohne Kanal (Anrufliste)", "no channel (call list)"),
    (
        "Die Zahlen gehen nicht auf: Für manche betroffenen Termine ist weder eine Nachricht unterwegs noch stehen sie auf der Anrufliste. Bitte melden Sie das und rufen Sie im Zweifel alle Betroffenen an.",
        "The counts do not add up: some affected bookings have neither a message on its way nor a place on the call list. Please report this and, when in doubt, phone everyone affected.",
    ),
    (
        "weitere Termine im Zeitraum sagt schon eine andere laufende Absage ab (oben nicht gezählt).",
        "more bookings in the window are already cancelled by another running cancellation (not counted above).",
    ),
    ("Aus dem Export verschwunden", "Vanished from the export"),
    (
        "Diese Termine fehlen im Export, seit die Absage läuft. Sie bleiben betroffen und ihre Absage gilt weiter: Der Export kann abgeschnitten oder die falsche Datei sein. Erst wenn jemand bestätigt, dass es sie im Terminsystem nicht mehr gibt, verlassen sie die Absage; was für sie noch wartet, wird zurückgezogen.",
        "These bookings are missing from the export since the cancellation started. They stay affected and their cancellation stands: the export may be cut off or the wrong file. Only when someone confirms that they no longer exist in the booking system do they leave the cancellation; what still waits for them is withdrawn.",
    ),
    ("fehlt im Export seit", "missing from the export since"),
    ("Entfernung bestätigen", "Confirm the removal"),
    (
        "Die Liste der verschwundenen Termine hat sich inzwischen geändert. Bitte laden Sie die Seite neu und prüfen Sie sie noch einmal.",
        "The list of vanished bookings has changed meanwhile. Please reload the page and check it again.",
    ),
    ("importiert", "imported"),
    (
        "davon ignoriert, weil kein Termin",
        "of which ignored, no appointment",
    ),
    (
        "Die Zahlen gehen nicht auf: Zeilen sind weder übernommen noch abgelehnt worden. Bitte melden Sie das.",
        "The counts do not add up: some rows were neither imported nor rejected. Please report this.",
    ),
    ("Unbrauchbare Kontaktdaten", "Unusable contact data"),
    (
        "Diese Termine sind übernommen, nur ohne den betroffenen Weg. Wer gar keinen Weg mehr hat, kommt auf die Anrufliste, wenn eine Absage ihn trifft. Der Inhalt der Felder wird hier nicht gezeigt.",
        "These bookings were imported, only without that channel. Whoever has no channel left goes on the call list when a cancellation affects them. The fields' contents are not shown here.",
    ),
    ("Termine", "Bookings"),
    (
        "ohne jeden Weg (Anrufliste, wenn betroffen)",
        "with no channel at all (call list when affected)",
    ),
    ("Keine.", "None."),
];

/// State codes → (German, English).
const LABELS: &[(&str, &str, &str)] = &[
    ("amend", "Änderung", "amendment"),
    ("retract", "Widerruf", "retraction"),
    (
        "confirm_removals",
        "Entfernungen bestätigen",
        "confirm removals",
    ),
    ("sent", "versandt", "sent"),
    ("queued", "wartet", "queued"),
    ("sending", "in Arbeit", "sending"),
    ("failed", "gescheitert", "failed"),
    ("expired", "zu spät", "too late"),
    ("cancelled", "zurückgezogen", "cancelled"),
    ("delivered", "zugestellt", "delivered"),
    ("undelivered", "nicht zugestellt", "not delivered"),
    ("buffered", "gepuffert", "buffered"),
    ("submitted", "übergeben", "submitted"),
    ("rejected", "abgelehnt", "rejected"),
    ("active", "läuft", "running"),
    ("retracted", "widerrufen", "retracted"),
    ("closed", "abgeschlossen", "closed"),
    ("pending", "wartet", "pending"),
    ("approved", "freigegeben", "approved"),
    ("applied", "übernommen", "applied"),
    ("refused", "verweigert", "refused"),
    ("running", "läuft", "running"),
    ("up", "bereit", "up"),
    ("down", "gestört", "down"),
    ("email", "E-Mail", "email"),
    ("sms", "SMS", "SMS"),
    ("outage", "Ausfall", "outage"),
    ("batch", "Sammelabsage", "batch"),
];

/// The language of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    De,
    En,
}

impl Lang {
    pub fn parse(s: &str) -> Lang {
        if s == "en" { Lang::En } else { Lang::De }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::De => "de",
            Lang::En => "en",
        }
    }
}

/// `t(text)`: the German text in the page's language.
pub fn translate(lang: Lang, german: &str) -> String {
    match lang {
        Lang::De => german.to_owned(),
        Lang::En => EN
            .iter()
            .find(|(de, _)| *de == german)
            .map_or(german, |(_, en)| *en)
            .to_owned(),
    }
}

/// `label(code)`: a state code as people read it.
pub fn label(lang: Lang, code: &str) -> String {
    LABELS
        .iter()
        .find(|(c, _, _)| *c == code)
        .map_or(code, |(_, de, en)| if lang == Lang::En { en } else { de })
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_of_every_template_has_an_english_version() {
        for (name, text) in super::super::TEMPLATES {
            for part in text.split("t(\"").skip(1) {
                let german = part.split("\")").next().unwrap();
                assert!(
                    EN.iter().any(|(de, _)| *de == german),
                    "{name}: {german:?} has no English version"
                );
            }
        }
    }

    #[test]
    fn texts_and_labels_follow_the_language() {
        assert_eq!(translate(Lang::En, "Übersicht"), "Overview");
        assert_eq!(translate(Lang::De, "Übersicht"), "Übersicht");
        assert_eq!(label(Lang::De, "sent"), "versandt");
        assert_eq!(label(Lang::En, "expired"), "too late");
        assert_eq!(label(Lang::De, "unknown"), "unknown");
    }
}
