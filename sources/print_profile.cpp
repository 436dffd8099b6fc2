#include <iostream>
#include <string>

int main() {
    std::string name = "Alice";
    int age = 30;
    std::string city = "Paris";
    std::string language = "C++";
    std::cout << "Name: " << name << std::endl;
    std::cout << "Age: " << age << std::endl;
    std::cout << "City: " << city << std::endl;
    std::cout << "Favourite language: " << language << std::endl;
    return 0;
}
