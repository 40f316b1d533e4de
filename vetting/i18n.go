package vetting

import "strings"

// texts are the words of the workbook that a reviewer reads.
type texts struct {
	instructions, notSearchable string
	title, request, generated   string
	scope, scopeAll, searched   string
	howTitle                    string
	how                         []string
	columnsTitle                string
	columns                     [][2]string
	dataTypesTitle              string
	dataTypeHead                [3]string
	notSearchableHead           []string
	notSearchableNone           string
	truncatedNote               string
}

func textsFor(lang string) texts {
	switch strings.ToLower(strings.TrimSpace(lang)) {
	case "no", "nb", "nn", "nob", "nno", "no-no", "nb-no", "nn-no":
		return textsNO
	}
	return textsEN
}

var textsEN = texts{
	instructions:  "Instructions",
	notSearchable: "Not searchable",
	title:         "Vetting workbook",
	request:       "Access request",
	generated:     "Generated",
	scope:         "Data types in this workbook",
	scopeAll:      "all data types of the request",
	searched:      "Searched",
	howTitle:      "What to do",
	how: []string{
		"Each data-type sheet lists one row per document that matched the data subject. Open the original-url link to read the document.",
		"Withhold a document completely: delete its row (right-click the row number, Delete).",
		"Withhold the file but deliver its metadata (and any text you type): clear the extract-content cell. Never change it to anything else.",
		"Deliver redacted or partial text instead of the file's text: type it into the text cell of the row.",
		"Edit or clear metadata: change or clear the metadata.* cells. Values are delivered as text, exactly as typed.",
		"Do not add rows, sheets or columns, do not rename or remove sheets, do not change the read-only columns (document-id, filename, mime-type, size, extract-status, original-url) and do not use formulas: the upload is rejected and nothing is applied.",
		"Sorting and filtering rows is fine. To withhold every document of a data type, delete all its rows, not the sheet.",
		"Check the \"Not searchable\" sheet: those documents could not be read completely and may also concern the data subject.",
		"When done, save the workbook as .xlsx and upload it. Uploading again replaces your earlier decisions until the data is delivered.",
	},
	columnsTitle: "Columns",
	columns: [][2]string{
		{colRowID, "Hidden id of the row used when the workbook is uploaded. Do not change."},
		{colDocumentID, "The document's id in its source (read-only)."},
		{colFilename, "File name (read-only)."},
		{colMIMEType, "File type (read-only)."},
		{colSize, "File size in bytes (read-only)."},
		{colStatus, "How well the text could be read: ok, partial, ... (read-only)."},
		{colOriginalURL, "Link to open the original document (may ask you to log in; read-only)."},
		{colExtract, "Link to the file that will be delivered. Keep it, or clear it to withhold the file."},
		{colText, "Empty. Text typed here is delivered instead of the file's text."},
		{colMatched, "Which identifiers of the data subject matched, and how often (for information)."},
		{colCount, "Total number of matches (for information)."},
		{colSnippets, "Excerpts around the matches, matched terms in bold, each with where it is in the document (for information)."},
		{metaPrefix + "<key>", "The document's metadata, one column per key (nested keys joined with dots, a dot inside a key written as \\., lists as JSON). Edit or clear as needed."},
	},
	dataTypesTitle:    "Data types",
	dataTypeHead:      [3]string{"Sheet", "Data type", "Documents"},
	notSearchableHead: []string{"source", "entity-id", "data-type", "filename", "original-url", "status", "reason"},
	notSearchableNone: "All documents of these data types could be searched.",
	truncatedNote:     "Cells longer than Excel allows are cut and end with \"" + truncMarker + "\".",
}

var textsNO = texts{
	instructions:  "Instruksjoner",
	notSearchable: "Ikke søkbare",
	title:         "Arbeidsbok for gjennomgang",
	request:       "Innsynsbegjæring",
	generated:     "Laget",
	scope:         "Datatyper i denne arbeidsboken",
	scopeAll:      "alle datatypene i begjæringen",
	searched:      "Søkt",
	howTitle:      "Slik gjør du",
	how: []string{
		"Hvert datatype-ark har én rad per dokument som traff den registrerte. Åpne lenken i original-url for å lese dokumentet.",
		"Hold tilbake et dokument helt: slett raden (høyreklikk på radnummeret, Slett).",
		"Hold tilbake filen, men lever metadata (og eventuell tekst du skriver): tøm cellen extract-content. Endre den aldri til noe annet.",
		"Lever sladdet eller delvis tekst i stedet for filens tekst: skriv den i cellen text på raden.",
		"Endre eller fjern metadata: endre eller tøm cellene metadata.*. Verdiene leveres som tekst, nøyaktig slik de er skrevet.",
		"Ikke legg til rader, ark eller kolonner, ikke gi nytt navn til eller slett ark, ikke endre de skrivebeskyttede kolonnene (document-id, filename, mime-type, size, extract-status, original-url) og ikke bruk formler: da avvises opplastingen og ingenting tas i bruk.",
		"Det går fint å sortere og filtrere rader. For å holde tilbake alle dokumentene av en datatype, slett alle radene, ikke arket.",
		"Se arket «Ikke søkbare»: de dokumentene kunne ikke leses helt og kan også gjelde den registrerte.",
		"Når du er ferdig, lagre arbeidsboken som .xlsx og last den opp. En ny opplasting erstatter tidligere avgjørelser inntil dataene er levert.",
	},
	columnsTitle: "Kolonner",
	columns: [][2]string{
		{colRowID, "Skjult id for raden, brukes ved opplasting. Ikke endre."},
		{colDocumentID, "Dokumentets id i kilden (skrivebeskyttet)."},
		{colFilename, "Filnavn (skrivebeskyttet)."},
		{colMIMEType, "Filtype (skrivebeskyttet)."},
		{colSize, "Filstørrelse i byte (skrivebeskyttet)."},
		{colStatus, "Hvor godt teksten kunne leses: ok, partial, ... (skrivebeskyttet)."},
		{colOriginalURL, "Lenke for å åpne originaldokumentet (kan kreve innlogging; skrivebeskyttet)."},
		{colExtract, "Lenke til filen som blir levert. Behold den, eller tøm cellen for å holde tilbake filen."},
		{colText, "Tom. Tekst som skrives her leveres i stedet for filens tekst."},
		{colMatched, "Hvilke identifikatorer for den registrerte som traff, og hvor ofte (til informasjon)."},
		{colCount, "Samlet antall treff (til informasjon)."},
		{colSnippets, "Utdrag rundt treffene, med treffordene i fet skrift og hvor i dokumentet de står (til informasjon)."},
		{metaPrefix + "<nøkkel>", "Dokumentets metadata, én kolonne per nøkkel (nøstede nøkler skilt med punktum, punktum inne i en nøkkel skrevet som \\., lister som JSON). Endre eller tøm ved behov."},
	},
	dataTypesTitle:    "Datatyper",
	dataTypeHead:      [3]string{"Ark", "Datatype", "Dokumenter"},
	notSearchableHead: []string{"source", "entity-id", "data-type", "filename", "original-url", "status", "reason"},
	notSearchableNone: "Alle dokumentene av disse datatypene kunne søkes i.",
	truncatedNote:     "Celler som er lengre enn Excel tillater, er kuttet og slutter med «" + truncMarker + "».",
}
