// emosketch: play a pack's emotion loops on a 128x128 SH1107 OLED (I2C, address 0x3D) with Adafruit_SH110X.
//
// 1. emosketch pack --input me.jpg --size 128x128 --format sh1107 --out pack     (the face fills the square)
// 2. Copy pack/pack.h, pack/emosketch_player.h and pack/emosketch_player.c into this sketch's folder.
// 3. Upload. The face cycles through the pack's emotions, one every 4 seconds.
//
// The sh1107 pixel format is the SH1107's RAM (16 pages of 128 columns, bit 0 = top), which is
// also Adafruit_SH110X's buffer layout, so the player decodes each frame straight into the
// library's 2 KB buffer: no second buffer. Do not draw into it yourself: delta frames build on
// the previous frame. Some 128x128 modules answer at 0x3C; 64x128 ones need a 64x128 pack.
#include <Wire.h>
#include <Adafruit_GFX.h>
#include <Adafruit_SH110X.h>
#include "emosketch_player.h"
#include "pack.h"

// The player decodes into the library's own 2 KB page buffer: a pack of another size or pixel format would draw
// garbage there or write past it, so it is refused here, when the sketch is compiled.
#if !defined(PACK_FORMAT_SH1107) || PACK_WIDTH != 128u || PACK_HEIGHT != 128u || PACK_FRAME_BYTES != 2048u
#error "this example plays 128x128 sh1107 packs: make the pack with --size 128x128 --format sh1107"
#endif

Adafruit_SH1107 display(128, 128, &Wire);
es_player player;
uint32_t lastChange = 0;

void setup() {
  if (!display.begin(0x3D, true)) {
    for (;;) {}  // no display found at 0x3D
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
    display.display();  // 2 KB: ~50 ms over I2C at 400 kHz
  }
}
