// emosketch: change the face's emotion from the serial monitor (115200 baud).
//
// Send an emotion's name ("happy", any case), its number (0-9) or its first letter alone (n neutral, h happy,
// s sad, a anger, ...; a letter two emotions share picks the first, so surprise is its name or number), each
// ended by a new line, a space or a comma, or by a second with nothing more (a serial monitor set to "No line
// ending"; a terminal that sends each key as it is typed may pause between keys, so a word waits that long;
// backspace works):
// the face plays the transition to it, then its idle loop, and the sketch answers "-> 1 happy". Anything else
// is answered "? joy: not an emotion of this pack" and changes nothing. '?' lists the emotions with their
// numbers ("0 neutral, 1 happy, 2 sad, ...").
// Wiring and setup as in the adafruit_ssd1306 example (SSD1306 on I2C at 0x3C).
#include <Wire.h>
#include <Adafruit_GFX.h>
#include <Adafruit_SSD1306.h>
#include "emosketch_player.h"
#include "pack.h"

// The player decodes PACK_FRAME_BYTES into the display library's own 1 KB buffer, so a pack of another size
// or format would write past it: such a pack is refused here, when the sketch is compiled.
#if !defined(PACK_FORMAT_SSD1306) || PACK_WIDTH != 128u || PACK_HEIGHT != 64u || PACK_FRAME_BYTES != 1024u
#error "this example plays 128x64 ssd1306 packs (emosketch pack's default size and --format ssd1306)"
#endif

Adafruit_SSD1306 display(128, 64, &Wire, -1);
es_player player;

#define WORD_BYTES 16      // the longest word read; a longer one is not an emotion
#define WORD_PAUSE_MS 1000  // a word with no end mark ends when nothing more comes for this long
static char word[WORD_BYTES];
static uint8_t wordLength = 0;
static bool wordTooLong = false;
static unsigned long lastByteMs = 0;

static char lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c; }

// The index of the emotion named `word` (any case), or whose name starts with it when it is one letter; -1 if
// none. Names are "neutral,happy,...".
static int emotionNamed(const char *w, uint8_t n) {
  int index = 0;
  uint8_t at = 0;  // characters of the current name that match so far
  bool matching = true;
  for (unsigned i = 0; i < sizeof(pack_emotion_names); i++) {
    char c = i < sizeof(pack_emotion_names) - 1 ? (char)ES_READ8((const uint8_t *)&pack_emotion_names[i]) : ',';
    if (c == ',') {
      if (matching && at == n) return index;
      index++;
      at = 0;
      matching = true;
      continue;
    }
    if (matching && n == 1 && at == 0 && c == lower(w[0])) return index;
    if (matching && at < n && c == lower(w[at])) at++;
    else matching = false;
  }
  return -1;
}

static void listEmotions() {
  Serial.print(F("emotions: 0 "));
  int index = 0;
  for (unsigned i = 0; i < sizeof(pack_emotion_names) - 1; i++) {
    char c = (char)ES_READ8((const uint8_t *)&pack_emotion_names[i]);
    Serial.print(c);
    if (c == ',') {
      Serial.print(' ');
      Serial.print(++index);
      Serial.print(' ');
    }
  }
  Serial.println();
}

void setup() {
  Serial.begin(115200);
  if (!display.begin(SSD1306_SWITCHCAPVCC, 0x3C)) {
    Serial.println(F("no SSD1306 at 0x3C"));
    for (;;) {}
  }
  if (es_player_init(&player, &pack_pack, display.getBuffer(), 0) != ES_OK) {
    Serial.println(F("pack.h is damaged or from an older emosketch: export it again"));
    for (;;) {}
  }
  listEmotions();
}

static void printName(int e) {
  int index = 0;
  for (unsigned i = 0; i < sizeof(pack_emotion_names) - 1; i++) {
    char c = (char)ES_READ8((const uint8_t *)&pack_emotion_names[i]);
    if (c == ',') index++;
    else if (index == e) Serial.print(c);
  }
}

// A whole word has arrived: ask for its emotion, or say why not.
static void takeWord() {
  if (wordLength == 1 && word[0] == '?') {
    listEmotions();
  } else {
    int e = -1;
    bool digits = wordLength > 0 && !wordTooLong;
    for (uint8_t i = 0; i < wordLength; i++) digits = digits && word[i] >= '0' && word[i] <= '9';
    if (digits) {
      e = wordLength == 1 ? word[0] - '0' : wordLength == 2 ? (word[0] - '0') * 10 + (word[1] - '0') : -1;
    } else if (!wordTooLong) {
      e = emotionNamed(word, wordLength);
    }
    if (e >= 0 && e < (int)PACK_EMOTION_COUNT) {
      es_player_request(&player, (uint8_t)e);
      Serial.print(F("-> "));
      Serial.print(e);
      Serial.print(' ');
      printName(e);
      Serial.println();
    } else {
      Serial.print(F("? "));
      Serial.print(word);
      Serial.println(wordTooLong ? F("...: not an emotion of this pack (? lists them)")
                                 : F(": not an emotion of this pack (? lists them)"));
    }
  }
  wordLength = 0;
  wordTooLong = false;
  word[0] = '\0';
}

void loop() {
  unsigned long now = millis();
  while (Serial.available() > 0) {
    char c = (char)Serial.read();
    lastByteMs = millis();
    if (c == '\n' || c == '\r' || c == ' ' || c == ',' || c == ';' || c == '\t') {
      if (wordLength > 0 || wordTooLong) takeWord();
    } else if (c == '\b' || c == 127) {  // backspace (or DEL, what many terminals send for it)
      if (wordLength > 0 && !wordTooLong) word[--wordLength] = '\0';
    } else if (wordLength < WORD_BYTES - 1) {
      word[wordLength++] = c;
      word[wordLength] = '\0';
    } else {
      wordTooLong = true;
    }
  }
  if ((wordLength > 0 || wordTooLong) && millis() - lastByteMs >= WORD_PAUSE_MS) takeWord();
  if (es_player_update(&player, now)) {
    display.display();
  }
}
