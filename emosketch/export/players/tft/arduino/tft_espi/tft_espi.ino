// emosketch: play a TFT pack on an ST7789 (240x240 or 135x240) or ILI9341 (320x240) with TFT_eSPI.
//
// 1. emosketch pack --input me.jpg --tft st7789-240x240 --ink yellow --paper black --out pack
// 2. Copy pack/pack_tft.h, pack/emosketch_tft.h and pack/emosketch_tft.c into this sketch's folder.
// 3. Pick the panel's driver and pins in TFT_eSPI's User_Setup.h (ST7789_DRIVER or ILI9341_DRIVER),
//    and upload (an ESP32 or RP2040: the pack lives in flash).
//
// The face moves to a new emotion every 4 seconds, through the pack's transitions. The player
// draws only the pixels that change, straight to the panel: no frame buffer (a 240x240 RGB565
// frame would take 112 KB of RAM).
#include <TFT_eSPI.h>
#include "emosketch_tft.h"
#include "pack_tft.h"

TFT_eSPI tft = TFT_eSPI();
es_tft_player player;
uint32_t lastChange = 0;

static void span(void *ctx, uint16_t x, uint16_t y, uint16_t n, const uint8_t *words, uint16_t colour) {
  (void)ctx;
  if (words == 0) {
    tft.drawFastHLine(x, y, n, colour);
    return;
  }
  tft.setAddrWindow(x, y, n, 1);
  for (uint16_t i = 0; i < n; i++) {
    tft.pushColor((uint16_t)(words[2 * i] | (words[2 * i + 1] << 8)));
  }
}

void setup() {
  tft.init();
  tft.setRotation(pack_tft_pack.width > pack_tft_pack.height ? 1 : 0);
  tft.fillScreen(pack_tft_pack.paper);
  if (es_tft_player_init(&player, &pack_tft_pack, 0) != ES_TFT_OK) {
    for (;;) {}  // pack_tft.h is damaged or from an older emosketch: export it again
  }
}

void loop() {
  uint32_t now = millis();
  if (PACK_EMOTION_COUNT > 1 && now - lastChange > 4000) {  // a new emotion every 4 seconds
    lastChange = now;
    es_tft_player_request(&player, (uint8_t)((es_tft_player_emotion(&player) + 1) % PACK_EMOTION_COUNT));
  }
  tft.startWrite();
  es_tft_player_update(&player, now, span, 0);
  tft.endWrite();
}
