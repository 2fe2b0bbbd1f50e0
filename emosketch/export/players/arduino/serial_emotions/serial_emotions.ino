// emosketch: change the face's emotion from the serial monitor (115200 baud).
//
// Send an emotion's number (0-9) or its first letter (n neutral, h happy, s sad, a anger, ...; a letter
// two emotions share picks the first, so surprise is its number): the face plays the transition to it,
// then its idle loop. '?' lists the emotions with their numbers ("0 neutral, 1 happy, 2 sad, ...").
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

// The index of the emotion whose name starts with `letter`, or -1. Names are "neutral,happy,...".
static int emotionForLetter(char letter) {
  int index = 0;
  bool atStart = true;
  for (unsigned i = 0; i < sizeof(pack_emotion_names) - 1; i++) {
    char c = (char)ES_READ8((const uint8_t *)&pack_emotion_names[i]);
    if (c == ',') { index++; atStart = true; continue; }
    if (atStart && c == letter) return index;
    atStart = false;
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

void loop() {
  while (Serial.available() > 0) {
    char c = (char)Serial.read();
    int e = (c >= '0' && c <= '9') ? c - '0' : emotionForLetter(c);
    if (c == '?') {
      listEmotions();
    } else if (e >= 0 && e < (int)PACK_EMOTION_COUNT) {
      es_player_request(&player, (uint8_t)e);
      Serial.print(F("-> emotion "));
      Serial.println(e);
    }
  }
  if (es_player_update(&player, millis())) {
    display.display();
  }
}
