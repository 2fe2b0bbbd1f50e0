// emosketch: play a pack's emotion loops on a 128x64 SSD1306 (I2C, address 0x3C) with Adafruit_SSD1306.
//
// 1. emosketch pack --input me.jpg --out pack     (any folder: the header is pack.h unless --name says otherwise)
// 2. Copy pack/pack.h, pack/emosketch_player.h and pack/emosketch_player.c into this sketch's folder.
// 3. Upload. The face cycles through the pack's emotions, one every 4 seconds.
//
// The player decodes each frame straight into Adafruit_SSD1306's own page buffer (the same
// layout as the pack's ssd1306 format), so no second 1 KB buffer is needed: an Uno has only 2 KB
// of RAM. Do not draw into the display buffer yourself: delta frames build on the previous frame.
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
uint32_t lastChange = 0;

void setup() {
  if (!display.begin(SSD1306_SWITCHCAPVCC, 0x3C)) {
    for (;;) {}  // no display found at 0x3C
  }
  if (es_player_init(&player, &pack_pack, display.getBuffer(), 0) != ES_OK) {
    for (;;) {}  // pack.h is damaged or from an older emosketch: export it again
  }
}

void loop() {
  uint32_t now = millis();
  if (PACK_EMOTION_COUNT > 1 && now - lastChange > 4000) {
    lastChange = now;
    es_player_request(&player, (uint8_t)((es_player_emotion(&player) + 1) % PACK_EMOTION_COUNT));
  }
  if (es_player_update(&player, now)) {
    display.display();  // ~25 ms over I2C at 400 kHz
  }
}
